"""The ``venues`` table (migration 0003)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from tickettoken.events.columns import (
    EAGER_DEFAULTS,
    IdAndTimestamps,
    metadata_column,
    timestamp_column,
)
from tickettoken.kit.orm import Base


class Venue(IdAndTimestamps, Base):
    __tablename__ = "venues"
    __mapper_args__ = EAGER_DEFAULTS

    name: Mapped[str] = mapped_column(String(255))
    address: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    capacity: Mapped[int] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64), server_default=text("'UTC'"))
    metadata_: Mapped[dict[str, Any]] = metadata_column()
    created_by: Mapped[str | None] = mapped_column(Text)
    deleted_at: Mapped[datetime | None] = timestamp_column()
