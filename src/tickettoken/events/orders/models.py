"""The ``orders``, ``order_items``, ``tickets`` (migration 0003) and ``order_refunds`` (0006)
tables."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CHAR, ForeignKey, Integer, Numeric, String, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tickettoken.events.columns import EAGER_DEFAULTS, IdAndTimestamps, timestamp_column
from tickettoken.events.vocabulary import OrderStatus as OrderStatus
from tickettoken.kit.orm import Base


class TicketStatus(StrEnum):
    PENDING = "pending"
    ISSUED = "issued"
    INVALIDATED = "invalidated"
    REFUNDED = "refunded"
    USED = "used"


class Order(IdAndTimestamps, Base):
    __tablename__ = "orders"
    __mapper_args__ = EAGER_DEFAULTS

    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("customers.id"))
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("events.id"))
    reservation_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("reservations.id"), unique=True
    )
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    total: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    refunded_amount: Mapped[Decimal] = mapped_column(Numeric(10, 2), server_default=text("0"))
    currency: Mapped[str] = mapped_column(CHAR(3), server_default=text("'USD'"))
    payment_intent_id: Mapped[str | None] = mapped_column(String(255))
    payment_job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    paid_at: Mapped[datetime | None] = timestamp_column()
    cancelled_at: Mapped[datetime | None] = timestamp_column()
    # Kept by the report triggers of migration 0009 (the event's venue, the items' tickets and
    # value) for reports that scope and count without joins; never written from Python.
    venue_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    tickets: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    ticket_value: Mapped[Decimal] = mapped_column(Numeric(12, 2), server_default=text("0"))


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class OrderRefund(IdAndTimestamps, Base):
    """A refund the platform queued: counted on its order only once the provider confirmed it."""

    __tablename__ = "order_refunds"
    __mapper_args__ = EAGER_DEFAULTS

    order_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("orders.id"))
    amount: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    currency: Mapped[str] = mapped_column(CHAR(3))
    reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    provider_refund_id: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    confirmed_at: Mapped[datetime | None] = timestamp_column()


class OrderItem(IdAndTimestamps, Base):
    __tablename__ = "order_items"
    __mapper_args__ = EAGER_DEFAULTS

    order_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("orders.id", ondelete="CASCADE")
    )
    ticket_type_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("ticket_types.id")
    )
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    subtotal: Mapped[Decimal] = mapped_column(Numeric(10, 2))


class Ticket(IdAndTimestamps, Base):
    __tablename__ = "tickets"
    __mapper_args__ = EAGER_DEFAULTS

    order_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("orders.id"))
    order_item_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("order_items.id")
    )
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("events.id"))
    ticket_type_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("ticket_types.id")
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("customers.id"))
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    code: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime | None] = timestamp_column()
    invalidated_at: Mapped[datetime | None] = timestamp_column()
    used_at: Mapped[datetime | None] = timestamp_column()
