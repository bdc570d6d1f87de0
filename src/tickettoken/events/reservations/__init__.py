"""reservations domain of the event service."""
