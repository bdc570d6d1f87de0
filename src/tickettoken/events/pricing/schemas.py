"""Request and response shapes of pricing rules and price quotes.

Conditions are validated per rule type, so a rule that could never apply (the original
service's defect) is refused with 422 instead of being stored.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tickettoken.events.pricing.models import AdjustmentType, PricingRule, RuleType
from tickettoken.kit.schema_types import AwareDatetime, RequestModel

MAX_ADJUSTMENT = Decimal("1000000.00")


class TimeBasedConditions(BaseModel):
    """Early bird while at least ``days_before`` days remain, and/or a [start, end) window."""

    model_config = ConfigDict(extra="forbid")
    days_before: int | None = Field(default=None, ge=0, le=730)
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None

    @model_validator(mode="after")
    def _some_condition(self) -> TimeBasedConditions:
        if self.days_before is None and self.start is None and self.end is None:
            raise ValueError("time_based needs days_before or a start/end window")
        if self.start and self.end and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class DemandConditions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    percentage_sold: Decimal = Field(ge=0, le=100, decimal_places=2)


class GroupConditions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_quantity: int = Field(ge=1, le=10)


CONDITIONS_BY_TYPE: dict[RuleType, type[BaseModel]] = {
    RuleType.TIME_BASED: TimeBasedConditions,
    RuleType.DEMAND_BASED: DemandConditions,
    RuleType.GROUP: GroupConditions,
}


def normalized_conditions(rule_type: RuleType, conditions: dict[str, Any]) -> dict[str, Any]:
    """Validate ``conditions`` for the rule type; the JSON form that is stored."""
    model = CONDITIONS_BY_TYPE[rule_type].model_validate(conditions)
    return model.model_dump(mode="json", exclude_none=True)


class Adjustment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: AdjustmentType
    value: Decimal = Field(ge=-MAX_ADJUSTMENT, le=MAX_ADJUSTMENT, decimal_places=2)

    @model_validator(mode="after")
    def _percentage_floor(self) -> Adjustment:
        if self.type is AdjustmentType.PERCENTAGE and not -100 <= self.value <= 1000:
            raise ValueError("a percentage adjustment must be between -100 and 1000")
        return self


class PricingRuleCreate(RequestModel):
    ticket_type_id: uuid.UUID
    rule_type: RuleType
    conditions: dict[str, Any]
    adjustment: Adjustment
    priority: int = Field(default=0, ge=0, le=1000)
    active: bool = True

    @model_validator(mode="after")
    def _conditions_fit(self) -> PricingRuleCreate:
        self.conditions = normalized_conditions(self.rule_type, self.conditions)
        return self


class PricingRuleUpdate(RequestModel):
    rule_type: RuleType | None = None
    conditions: dict[str, Any] | None = None
    adjustment: Adjustment | None = None
    priority: int | None = Field(default=None, ge=0, le=1000)
    active: bool | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> PricingRuleUpdate:
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


def rule_view(rule: PricingRule) -> dict[str, Any]:
    return {
        "id": str(rule.id),
        "ticket_type_id": str(rule.ticket_type_id),
        "rule_type": rule.rule_type,
        "conditions": rule.conditions,
        "adjustment": {"type": rule.adjustment_type, "value": f"{rule.adjustment_value:.2f}"},
        "priority": rule.priority,
        "active": rule.active,
        "created_at": _iso(rule.created_at),
        "updated_at": _iso(rule.updated_at),
    }


def _iso(value: datetime) -> str:
    return value.isoformat()
