"""Every table model of the event service, imported together.

Foreign keys between domains (a reservation points at an order, an order at a reservation) are
resolved by table name in the shared metadata, so all models must be registered before the
first flush; the app and the tests import this module for that.
"""

from __future__ import annotations

from tickettoken.events.audit.models import AuditRecord
from tickettoken.events.customers.models import Customer
from tickettoken.events.events.models import Event, EventCategory, EventStatus
from tickettoken.events.notifications.models import Notification
from tickettoken.events.orders.models import (
    Order,
    OrderItem,
    OrderRefund,
    OrderStatus,
    Ticket,
    TicketStatus,
)
from tickettoken.events.payouts.models import Payout
from tickettoken.events.pricing.models import AdjustmentType, PricingRule, RuleType
from tickettoken.events.reservations.models import Reservation, ReservationStatus
from tickettoken.events.ticket_types.models import TicketType
from tickettoken.events.venues.models import Venue

__all__ = [
    "AdjustmentType",
    "AuditRecord",
    "Customer",
    "Event",
    "EventCategory",
    "EventStatus",
    "Notification",
    "Order",
    "OrderItem",
    "OrderRefund",
    "OrderStatus",
    "Payout",
    "PricingRule",
    "Reservation",
    "ReservationStatus",
    "RuleType",
    "Ticket",
    "TicketStatus",
    "TicketType",
    "Venue",
]
