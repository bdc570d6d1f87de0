"""notifications domain of the event service."""
