"""The ``ticket_types`` table (migration 0003).

``sold`` and ``reserved`` are counters kept by the sales side (reservations, orders) inside the
same transaction as the rows they count; the CHECK ``sold + reserved <= quantity`` makes
overselling impossible even if a service check were wrong.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CHAR, ForeignKey, Integer, Numeric, String, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tickettoken.events.columns import (
    EAGER_DEFAULTS,
    IdAndTimestamps,
    metadata_column,
    timestamp_column,
)
from tickettoken.kit.orm import Base


class TicketType(IdAndTimestamps, Base):
    __tablename__ = "ticket_types"
    __mapper_args__ = EAGER_DEFAULTS

    event_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("events.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    currency: Mapped[str] = mapped_column(CHAR(3), server_default=text("'USD'"))
    quantity: Mapped[int] = mapped_column(Integer)
    sold: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    reserved: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    max_per_order: Mapped[int] = mapped_column(Integer, server_default=text("6"))
    sale_start: Mapped[datetime | None] = timestamp_column()
    sale_end: Mapped[datetime | None] = timestamp_column()
    metadata_: Mapped[dict[str, Any]] = metadata_column()

    @property
    def available(self) -> int:
        return self.quantity - self.sold - self.reserved
