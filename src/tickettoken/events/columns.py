"""Column shapes every event-service table shares, so each model maps the migration exactly.

Ids, timestamps and defaults are produced by PostgreSQL (``gen_random_uuid()``, ``now()``, the
``tickettoken_set_updated_at`` trigger); ``eager_defaults`` makes SQLAlchemy read them back with
``RETURNING`` on INSERT and UPDATE, so no attribute is left expired (an expired attribute would
need a lazy load, which async sessions cannot do implicitly).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, FetchedValue, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

EAGER_DEFAULTS: dict[str, Any] = {"eager_defaults": True}


class IdAndTimestamps:
    """``id`` (``gen_random_uuid()``), ``created_at`` and the trigger-maintained ``updated_at``."""

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()"), server_onupdate=FetchedValue()
    )


def metadata_column() -> Mapped[dict[str, Any]]:
    """The ``metadata jsonb`` column, as attribute ``metadata_`` (the name is reserved)."""
    return mapped_column("metadata", JSONB, server_default=text("'{}'::jsonb"))


def timestamp_column(*, nullable: bool = True) -> Mapped[Any]:
    return mapped_column(DateTime(timezone=True), nullable=nullable)
