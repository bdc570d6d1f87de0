"""TicketToken core platform: event, queue and integration services and the API gateway."""

__version__ = "0.1.0"
