"""Request and response shapes of the customers domain."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, EmailStr, Field

from tickettoken.events.vocabulary import EventCategory, EventStatus, OrderStatus
from tickettoken.kit.schema_types import MoneyText, RequestModel, Timestamp


class CustomerDetails(RequestModel):
    """Who buys: creates or finds the venue's customer by email."""

    email: EmailStr
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    # Starts and ends with a non-space: text is stripped before the pattern is checked.
    phone: str | None = Field(
        default=None, max_length=50, pattern=r"^[0-9+().-][0-9+() .-]{1,48}[0-9+().-]$"
    )
    # Consent to the venue's marketing mail, given or withdrawn at checkout; left out, the
    # customer's consent stays as it is (a new customer has none).
    marketing_consent: bool | None = None


class CustomerRead(BaseModel):
    id: uuid.UUID
    venue_id: uuid.UUID
    email: str
    first_name: str | None
    last_name: str | None
    phone: str | None
    user_id: str | None
    marketing_consent: bool
    marketing_consent_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp


class CustomerStatistics(BaseModel):
    orders: int
    tickets: int
    gross: MoneyText
    refunded: MoneyText
    net: MoneyText
    average_order_value: MoneyText
    first_purchase_at: Timestamp | None
    last_purchase_at: Timestamp | None


class PurchaseRead(BaseModel):
    id: uuid.UUID
    status: OrderStatus
    total: MoneyText
    refunded_amount: MoneyText
    currency: str
    created_at: Timestamp
    paid_at: Timestamp | None
    event_id: uuid.UUID
    event_name: str
    category: EventCategory
    start_date: Timestamp
    venue_name: str
    tickets: int


class FavouriteCategory(BaseModel):
    category: EventCategory
    orders: int
    tickets: int


class UpcomingTicketedEvent(BaseModel):
    id: uuid.UUID
    name: str
    category: EventCategory
    start_date: Timestamp
    status: EventStatus
    venue_name: str
    tickets: int


class CustomerProfile(BaseModel):
    customer: CustomerRead
    statistics: CustomerStatistics
    purchase_history: list[PurchaseRead]
    favourite_categories: list[FavouriteCategory]
    upcoming_events: list[UpcomingTicketedEvent]
