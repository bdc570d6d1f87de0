"""Request and response shapes of orders (SPEC 4.1)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field

from tickettoken.events.orders.models import OrderStatus, RefundStatus, TicketStatus
from tickettoken.kit.schema_types import (
    DecimalText,
    MoneyText,
    RequestModel,
    Timestamp,
    decimal_text,
)

# Above 0 and at most 99,999,999.99 (numeric(10,2)).
AMOUNT_PATTERN = r"(?:0\.(?:0[1-9]|[1-9][0-9]?)|[1-9][0-9]{0,7}(?:\.[0-9]{1,2})?)"
RefundAmount = Annotated[
    Decimal,
    *decimal_text(
        AMOUNT_PATTERN,
        number={"exclusiveMinimum": 0, "maximum": 99_999_999.99},
        gt=0,
        le=Decimal("99999999.99"),
    ),
]


class ReservationConfirm(RequestModel):
    """Optional payment details; the payment itself runs in the ``payment-process`` job."""

    payment_method: str | None = Field(default=None, max_length=255, pattern=r"^[A-Za-z0-9_]+$")


class RefundCreate(RequestModel):
    """``amount`` omitted: everything not refunded yet."""

    amount: RefundAmount | None = None
    reason: str | None = Field(default=None, max_length=500)


class OrderItemRead(BaseModel):
    id: uuid.UUID
    ticket_type_id: uuid.UUID
    quantity: int
    unit_price: MoneyText
    subtotal: MoneyText


class TicketRead(BaseModel):
    id: uuid.UUID
    ticket_type_id: uuid.UUID
    status: TicketStatus
    code: str
    issued_at: Timestamp | None


class RefundRead(BaseModel):
    """A refund of the order: ``pending`` until the provider confirms it (then ``succeeded``)."""

    id: uuid.UUID
    amount: MoneyText
    status: RefundStatus
    created_at: Timestamp | None
    confirmed_at: Timestamp | None


class OrderRead(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    event_id: uuid.UUID
    reservation_id: uuid.UUID | None
    status: OrderStatus
    total: MoneyText
    refunded_amount: MoneyText = Field(description="Refunds the provider has confirmed")
    pending_refund_amount: MoneyText = Field(description="Refunds queued, not confirmed yet")
    currency: str
    payment_intent_id: str | None
    payment_job_id: uuid.UUID | None
    paid_at: Timestamp | None
    cancelled_at: Timestamp | None
    items: list[OrderItemRead]
    tickets: list[TicketRead]
    refunds: list[RefundRead]
    created_at: Timestamp
    updated_at: Timestamp


class RefundQueued(BaseModel):
    """The refund just queued (``pending`` until the provider confirms it)."""

    refund_id: uuid.UUID
    amount: DecimalText
    status: RefundStatus
    job_id: uuid.UUID


class OrderWithRefund(OrderRead):
    refund: RefundQueued
