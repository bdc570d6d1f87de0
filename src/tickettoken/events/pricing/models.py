"""The ``pricing_rules`` table (migration 0003); the API shows ``{type, value}`` adjustments."""

from __future__ import annotations

import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, Numeric, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from tickettoken.events.columns import EAGER_DEFAULTS, IdAndTimestamps
from tickettoken.kit.orm import Base


class RuleType(StrEnum):
    TIME_BASED = "time_based"
    DEMAND_BASED = "demand_based"
    GROUP = "group"


class AdjustmentType(StrEnum):
    PERCENTAGE = "percentage"
    FIXED = "fixed"


class PricingRule(IdAndTimestamps, Base):
    __tablename__ = "pricing_rules"
    __mapper_args__ = EAGER_DEFAULTS

    ticket_type_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("ticket_types.id", ondelete="CASCADE")
    )
    rule_type: Mapped[str] = mapped_column(Text)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    adjustment_type: Mapped[str] = mapped_column(Text)
    adjustment_value: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    priority: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
