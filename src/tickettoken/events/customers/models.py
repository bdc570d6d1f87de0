"""The ``customers`` table (migration 0003): one row per venue and buyer (email or user id)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tickettoken.events.columns import (
    EAGER_DEFAULTS,
    IdAndTimestamps,
    metadata_column,
    timestamp_column,
)
from tickettoken.kit.orm import Base


class Customer(IdAndTimestamps, Base):
    __tablename__ = "customers"
    __mapper_args__ = EAGER_DEFAULTS

    venue_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("venues.id"))
    email: Mapped[str | None] = mapped_column(String(255))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(50))
    user_id: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = metadata_column()
    # Migration 0016: consent to marketing mail (Mailchimp), when and by whom it last changed.
    marketing_consent: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    marketing_consent_at: Mapped[datetime | None] = timestamp_column()
    marketing_consent_source: Mapped[str | None] = mapped_column(String(50))
