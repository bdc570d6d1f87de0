"""events domain of the event service."""
