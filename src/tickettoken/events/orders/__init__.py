"""orders domain of the event service."""
