"""The ``events`` table (migration 0003) and its lowercase status and category values."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tickettoken.events.columns import (
    EAGER_DEFAULTS,
    IdAndTimestamps,
    metadata_column,
    timestamp_column,
)
from tickettoken.events.vocabulary import EventCategory as EventCategory
from tickettoken.events.vocabulary import EventStatus as EventStatus
from tickettoken.kit.orm import Base


class Event(IdAndTimestamps, Base):
    __tablename__ = "events"
    __mapper_args__ = EAGER_DEFAULTS

    venue_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("venues.id"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text, server_default=text("'other'"))
    start_date: Mapped[datetime] = timestamp_column(nullable=False)
    end_date: Mapped[datetime] = timestamp_column(nullable=False)
    doors_open: Mapped[datetime | None] = timestamp_column()
    capacity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(Text, server_default=text("'draft'"))
    image_url: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = metadata_column()
    cancellation_reason: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None] = timestamp_column()
    published_at: Mapped[datetime | None] = timestamp_column()
    deleted_at: Mapped[datetime | None] = timestamp_column()
    created_by: Mapped[str | None] = mapped_column(Text)
