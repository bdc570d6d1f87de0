"""The per-check table of migration 0013 (the rolling 24 h / 7 d / 30 d metrics read it)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Final

from sqlalchemy import BigInteger, Boolean, DateTime, Identity, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tickettoken.kit.orm import Base

TRIGGERS: Final = ("scheduled", "manual")


class HealthSample(Base):
    """One live connection check and what it found."""

    __tablename__ = "integration_health_samples"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    venue_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    integration_type: Mapped[str] = mapped_column(String(50))
    checked_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    ok: Mapped[bool] = mapped_column(Boolean)
    response_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(100))
    trigger: Mapped[str] = mapped_column(Text, server_default=text("'scheduled'"))
