"""The ``audit_log`` table (migration 0003): who did what to which entity, before and after."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tickettoken.events.columns import EAGER_DEFAULTS, IdAndTimestamps
from tickettoken.kit.orm import Base


class AuditRecord(IdAndTimestamps, Base):
    __tablename__ = "audit_log"
    __mapper_args__ = EAGER_DEFAULTS

    actor_id: Mapped[str | None] = mapped_column(Text)
    actor_role: Mapped[str | None] = mapped_column(String(50))
    action: Mapped[str] = mapped_column(String(50))
    entity_type: Mapped[str] = mapped_column(String(50))
    entity_id: Mapped[str | None] = mapped_column(Text)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    request_id: Mapped[str | None] = mapped_column(String(255))
    ip: Mapped[str | None] = mapped_column(INET)
