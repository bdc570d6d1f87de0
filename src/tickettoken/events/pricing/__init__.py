"""pricing domain of the event service."""
