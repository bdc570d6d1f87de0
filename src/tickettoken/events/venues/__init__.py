"""venues domain of the event service."""
