"""customers domain of the event service."""
