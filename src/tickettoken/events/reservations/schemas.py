"""Request and response shapes of reservations (SPEC 4.1)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from tickettoken.events.customers.schemas import CustomerDetails
from tickettoken.events.reservations.models import ReservationStatus
from tickettoken.events.reservations.settings import MAX_TICKETS_PER_ORDER
from tickettoken.kit.schema_types import MoneyText, RequestModel, Timestamp


class ReservationCreate(RequestModel):
    ticket_type_id: uuid.UUID
    quantity: int = Field(ge=1, le=MAX_TICKETS_PER_ORDER)
    customer_id: uuid.UUID | None = None
    customer: CustomerDetails | None = None


class ReservationRead(BaseModel):
    """A hold as the API sends it (``public_view``): money as strings with two places."""

    id: uuid.UUID
    event_id: uuid.UUID
    ticket_type_id: uuid.UUID
    customer_id: uuid.UUID
    quantity: int
    status: ReservationStatus
    unit_price: MoneyText
    total: MoneyText
    currency: str
    expires_at: Timestamp
    order_id: uuid.UUID | None
    confirmed_at: Timestamp | None
    released_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp
