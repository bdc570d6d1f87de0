"""ticket types domain of the event service."""
