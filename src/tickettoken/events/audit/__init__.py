"""audit domain of the event service."""
