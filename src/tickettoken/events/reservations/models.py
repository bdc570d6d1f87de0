"""The ``reservations`` table (migration 0003): a hold of 1..10 tickets at a locked unit price."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CHAR, ForeignKey, Integer, Numeric, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tickettoken.events.columns import EAGER_DEFAULTS, IdAndTimestamps, timestamp_column
from tickettoken.kit.orm import Base


class ReservationStatus(StrEnum):
    HELD = "held"
    CONFIRMED = "confirmed"
    RELEASED = "released"
    EXPIRED = "expired"


class Reservation(IdAndTimestamps, Base):
    __tablename__ = "reservations"
    __mapper_args__ = EAGER_DEFAULTS

    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("events.id"))
    ticket_type_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("ticket_types.id")
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("customers.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    total: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    currency: Mapped[str] = mapped_column(CHAR(3), server_default=text("'USD'"))
    status: Mapped[str] = mapped_column(Text, server_default=text("'held'"))
    expires_at: Mapped[datetime] = timestamp_column(nullable=False)
    order_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("orders.id", ondelete="SET NULL", use_alter=True)
    )
    confirmed_at: Mapped[datetime | None] = timestamp_column()
    released_at: Mapped[datetime | None] = timestamp_column()
