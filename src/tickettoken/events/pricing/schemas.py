"""Request and response shapes of pricing rules and price quotes.

Conditions are validated per rule type, so a rule that could never apply (the original
service's defect) is refused with 422 instead of being stored.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tickettoken.events.pricing.models import AdjustmentType, PricingRule, RuleType
from tickettoken.kit.schema_types import (
    DecimalText,
    IsoDatetime,
    MoneyText,
    RequestModel,
    Timestamp,
    decimal_text,
    omittable,
)

MAX_ADJUSTMENT = Decimal("1000000.00")


class TimeBasedConditions(BaseModel):
    """Early bird while at least ``days_before`` days remain, and/or a [start, end) window."""

    model_config = ConfigDict(extra="forbid")
    days_before: int | None = Field(default=None, ge=0, le=730)
    start: IsoDatetime | None = None
    end: IsoDatetime | None = None

    @model_validator(mode="after")
    def _some_condition(self) -> TimeBasedConditions:
        if self.days_before is None and self.start is None and self.end is None:
            raise ValueError("time_based needs days_before or a start/end window")
        if self.start and self.end and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class DemandConditions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    percentage_sold: Annotated[
        Decimal,
        *decimal_text(
            r"(?:[0-9]{1,2}(?:\.[0-9]{1,2})?|100(?:\.0{1,2})?)",
            number={"minimum": 0, "maximum": 100},
            ge=0,
            le=100,
        ),
    ]


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


# -100 to 1000 with at most two places: the range of a percentage adjustment.
PERCENTAGE_ADJUSTMENT_PATTERN = (
    r"^(?:-100(?:\.0{1,2})?|-?[0-9]{1,3}(?:\.[0-9]{1,2})?|1000(?:\.0{1,2})?)$"
)


def _percentage_range(schema: dict[str, Any]) -> None:
    """A percentage adjustment stays within -100..1000: the schema says it per ``type``."""
    schema["if"] = {"properties": {"type": {"const": "percentage"}}, "required": ["type"]}
    schema["then"] = {
        "properties": {
            "value": {
                "anyOf": [
                    {"type": "number", "minimum": -100, "maximum": 1000},
                    {"type": "string", "pattern": PERCENTAGE_ADJUSTMENT_PATTERN},
                ]
            }
        }
    }


class Adjustment(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_percentage_range)
    type: AdjustmentType
    value: Annotated[
        Decimal,
        *decimal_text(
            r"-?(?:[0-9]{1,6}(?:\.[0-9]{1,2})?|1000000(?:\.0{1,2})?)",
            number={"minimum": -MAX_ADJUSTMENT, "maximum": MAX_ADJUSTMENT},
            ge=-MAX_ADJUSTMENT,
            le=MAX_ADJUSTMENT,
        ),
    ]

    @model_validator(mode="after")
    def _percentage_floor(self) -> Adjustment:
        if self.type is AdjustmentType.PERCENTAGE and not -100 <= self.value <= 1000:
            raise ValueError("a percentage adjustment must be between -100 and 1000")
        return self


def _conditions_by_rule_type(schema: dict[str, Any]) -> None:
    """``conditions`` has the shape its ``rule_type`` needs (as ``normalized_conditions``
    checks), and a time rule names at least one condition."""
    time_needs_one = {
        "anyOf": [
            {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
            for name in ("days_before", "start", "end")
        ]
    }
    shapes = {
        RuleType.TIME_BASED: {"allOf": [_inline(TimeBasedConditions), time_needs_one]},
        RuleType.DEMAND_BASED: _inline(DemandConditions),
        RuleType.GROUP: _inline(GroupConditions),
    }
    schema["allOf"] = [
        {
            "if": {"properties": {"rule_type": {"const": rule_type.value}}},
            "then": {"properties": {"conditions": shape}},
        }
        for rule_type, shape in shapes.items()
    ]


def _inline(model: type[BaseModel]) -> dict[str, Any]:
    shape = model.model_json_schema()
    shape.pop("title", None)
    return shape


class PricingRuleCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra=_conditions_by_rule_type)

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
    rule_type: RuleType | None = omittable()
    conditions: dict[str, Any] | None = omittable()
    adjustment: Adjustment | None = omittable()
    priority: int | None = omittable(ge=0, le=1000)
    active: bool | None = omittable()

    @model_validator(mode="after")
    def _no_nulls(self) -> PricingRuleUpdate:
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class AdjustmentRead(BaseModel):
    type: AdjustmentType
    value: MoneyText


class PricingRuleRead(BaseModel):
    id: uuid.UUID
    ticket_type_id: uuid.UUID
    rule_type: RuleType
    conditions: dict[str, Any]
    adjustment: AdjustmentRead
    priority: int
    active: bool
    created_at: Timestamp
    updated_at: Timestamp


class RuleDeleted(BaseModel):
    id: uuid.UUID
    deleted: bool


class AppliedRule(BaseModel):
    rule_id: uuid.UUID
    rule_type: RuleType
    adjustment: AdjustmentRead
    price_before: MoneyText
    price_after: MoneyText


class PriceQuoteRead(BaseModel):
    name: str
    ticket_type_id: uuid.UUID
    currency: str
    quantity: int
    base_price: MoneyText
    current_price: MoneyText
    difference: MoneyText
    percent_change: DecimalText
    total: MoneyText
    applied_rules: list[AppliedRule]
    valid_until: Timestamp | None


class EventPricing(BaseModel):
    event_id: uuid.UUID
    quantity: int
    ticket_types: list[PriceQuoteRead]


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
