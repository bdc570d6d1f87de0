"""The hourly usage table of migration 0013 (``integration_costs`` itself is in
``integrations.models``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from tickettoken.kit.orm import Base


class ApiUsage(Base):
    """Provider API calls of one venue and provider in one hour (the 24 h figures of health)."""

    __tablename__ = "integration_api_usage"

    venue_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    integration_type: Mapped[str] = mapped_column(String(50), primary_key=True)
    hour_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    api_calls: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    failed_calls: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    bytes_sent: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    bytes_received: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
