"""Request and response shapes of orders (SPEC 4.1)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from tickettoken.kit.schema_types import RequestModel


class ReservationConfirm(RequestModel):
    """Optional payment details; the payment itself runs in the ``payment-process`` job."""

    payment_method: str | None = Field(default=None, max_length=255, pattern=r"^[A-Za-z0-9_]+$")


class RefundCreate(RequestModel):
    """``amount`` omitted: everything not refunded yet."""

    amount: Decimal | None = Field(default=None, gt=0, max_digits=10, decimal_places=2)
    reason: str | None = Field(default=None, max_length=500)


class OrderItemRead(BaseModel):
    id: uuid.UUID
    ticket_type_id: uuid.UUID
    quantity: int
    unit_price: Decimal
    subtotal: Decimal


class TicketRead(BaseModel):
    id: uuid.UUID
    ticket_type_id: uuid.UUID
    status: str
    code: str
    issued_at: datetime | None


class RefundRead(BaseModel):
    """A refund of the order: ``pending`` until the provider confirms it (then ``succeeded``)."""

    id: uuid.UUID
    amount: Decimal
    status: str
    created_at: datetime | None
    confirmed_at: datetime | None


class OrderRead(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    event_id: uuid.UUID
    reservation_id: uuid.UUID | None
    status: str
    total: Decimal
    refunded_amount: Decimal = Field(description="Refunds the provider has confirmed")
    pending_refund_amount: Decimal = Field(description="Refunds queued, not confirmed yet")
    currency: str
    payment_intent_id: str | None
    payment_job_id: uuid.UUID | None
    paid_at: datetime | None
    cancelled_at: datetime | None
    items: list[OrderItemRead]
    tickets: list[TicketRead]
    refunds: list[RefundRead]
    created_at: datetime
    updated_at: datetime
