"""Statuses and categories that several domains' views show (an event's status and category on a
venue's dashboard, an order's status on a customer's profile). Each is stored by one domain, but
naming it here lets the others describe it without importing that domain (no cycles)."""

from __future__ import annotations

from enum import StrEnum


class EventStatus(StrEnum):
    """Stored lowercase; the CHECK constraint ``events_status_check`` holds the same set."""

    DRAFT = "draft"
    PUBLISHED = "published"
    SOLD_OUT = "sold_out"
    POSTPONED = "postponed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class EventCategory(StrEnum):
    COMEDY = "comedy"
    CONCERT = "concert"
    THEATER = "theater"
    SPORTS = "sports"
    CONFERENCE = "conference"
    FESTIVAL = "festival"
    OTHER = "other"


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
