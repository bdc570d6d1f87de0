"""The ``notifications`` table (migration 0003): in-app messages owned by one user id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tickettoken.events.columns import EAGER_DEFAULTS, IdAndTimestamps, timestamp_column
from tickettoken.kit.orm import Base


class Notification(IdAndTimestamps, Base):
    __tablename__ = "notifications"
    __mapper_args__ = EAGER_DEFAULTS

    user_id: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(Text, server_default=text("'unread'"))
    read_at: Mapped[datetime | None] = timestamp_column()
