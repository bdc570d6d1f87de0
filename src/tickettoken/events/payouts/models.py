"""The ``payouts`` table (migration 0006)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CHAR, ForeignKey, Numeric, String, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tickettoken.events.columns import EAGER_DEFAULTS, IdAndTimestamps, timestamp_column
from tickettoken.kit.orm import Base


class PayoutStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"


class Payout(IdAndTimestamps, Base):
    __tablename__ = "payouts"
    __mapper_args__ = EAGER_DEFAULTS

    venue_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("venues.id"))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(CHAR(3), server_default=text("'USD'"))
    destination: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    provider_payout_id: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    paid_at: Mapped[datetime | None] = timestamp_column()
    failed_at: Mapped[datetime | None] = timestamp_column()
