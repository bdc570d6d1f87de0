"""Request and response shapes of reservations (SPEC 4.1)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from tickettoken.events.customers.schemas import CustomerDetails
from tickettoken.events.reservations.settings import MAX_TICKETS_PER_ORDER
from tickettoken.kit.schema_types import RequestModel


class ReservationCreate(RequestModel):
    ticket_type_id: uuid.UUID
    quantity: int = Field(ge=1, le=MAX_TICKETS_PER_ORDER)
    customer_id: uuid.UUID | None = None
    customer: CustomerDetails | None = None


class ReservationRead(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID
    ticket_type_id: uuid.UUID
    customer_id: uuid.UUID
    quantity: int
    status: str
    unit_price: Decimal
    total: Decimal
    currency: str
    expires_at: datetime
    order_id: uuid.UUID | None
    confirmed_at: datetime | None
    released_at: datetime | None
    created_at: datetime
    updated_at: datetime
