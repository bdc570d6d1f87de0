"""The pricing engine: pure arithmetic over a ticket type's rules, no I/O.

Kept free of the database so that the same function serves ``/pricing`` and reservations and can
be property-tested exhaustively. Money is ``Decimal`` quantized to cents with ROUND_HALF_UP after
every rule (each intermediate price is a price a customer could have been shown); a price never
goes below zero, nor above ``MAX_UNIT_PRICE`` (so any order's total fits its numeric(10,2)).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from tickettoken.events.pricing.models import AdjustmentType, RuleType
from tickettoken.kit.money import ZERO, to_money

# Highest unit price: ten of them (the most one order holds) still fit numeric(10,2).
MAX_UNIT_PRICE = Decimal("1000000.00")
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class RuleSpec:
    """A pricing rule as the engine sees it (built from a ``PricingRule`` row)."""

    id: uuid.UUID
    rule_type: str
    conditions: Mapping[str, Any]
    adjustment_type: str
    adjustment_value: Decimal
    priority: int = 0


@dataclass(frozen=True)
class PricingContext:
    """The facts a rule may depend on, all computed from real data by the caller."""

    now: datetime
    event_start: datetime
    quantity: int
    percentage_sold: Decimal


@dataclass(frozen=True)
class AppliedRule:
    rule_id: uuid.UUID
    rule_type: str
    adjustment_type: str
    adjustment_value: Decimal
    price_before: Decimal
    price_after: Decimal


def percentage_sold(sold: int, quantity: int) -> Decimal:
    """Share of the ticket type already sold, in percent; a type with nothing to sell is 100 %."""
    if quantity <= 0:
        return HUNDRED
    return Decimal(sold) * HUNDRED / Decimal(quantity)


def parse_instant(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _time_based_applies(conditions: Mapping[str, Any], ctx: PricingContext) -> bool:
    days_before = conditions.get("days_before")
    if days_before is not None and ctx.event_start - ctx.now < timedelta(days=int(days_before)):
        return False
    start = parse_instant(conditions.get("start"))
    if start is not None and ctx.now < start:
        return False
    end = parse_instant(conditions.get("end"))
    return not (end is not None and ctx.now >= end)


def rule_applies(rule: RuleSpec, ctx: PricingContext) -> bool:
    conditions = rule.conditions
    if rule.rule_type == RuleType.TIME_BASED:
        return _time_based_applies(conditions, ctx)
    if rule.rule_type == RuleType.DEMAND_BASED:
        threshold = conditions.get("percentage_sold")
        return threshold is not None and ctx.percentage_sold >= Decimal(str(threshold))
    if rule.rule_type == RuleType.GROUP:
        minimum = conditions.get("min_quantity")
        return minimum is not None and ctx.quantity >= int(minimum)
    return False


def adjust(price: Decimal, adjustment_type: str, value: Decimal) -> Decimal:
    if adjustment_type == AdjustmentType.PERCENTAGE:
        adjusted = price + price * value / HUNDRED
    else:
        adjusted = price + value
    return min(MAX_UNIT_PRICE, max(ZERO, to_money(adjusted)))


def apply_rules(
    base_price: Decimal, rules: Iterable[RuleSpec], ctx: PricingContext
) -> tuple[Decimal, tuple[AppliedRule, ...]]:
    """Apply the rules that hold in ``ctx``, lowest ``priority`` first (ties by id)."""
    price = min(MAX_UNIT_PRICE, max(ZERO, to_money(base_price)))
    applied: list[AppliedRule] = []
    for rule in sorted(rules, key=lambda r: (r.priority, str(r.id))):
        if not rule_applies(rule, ctx):
            continue
        new_price = adjust(price, rule.adjustment_type, rule.adjustment_value)
        applied.append(
            AppliedRule(
                rule_id=rule.id,
                rule_type=rule.rule_type,
                adjustment_type=rule.adjustment_type,
                adjustment_value=rule.adjustment_value,
                price_before=price,
                price_after=new_price,
            )
        )
        price = new_price
    return price, tuple(applied)


def next_time_boundary(rules: Iterable[RuleSpec], ctx: PricingContext) -> datetime | None:
    """The next instant after ``ctx.now`` at which a time-based rule starts or stops applying.

    A cached price is valid at most until then, so a cache can never serve an early-bird price
    after the early-bird period ended.
    """
    boundaries: list[datetime] = []
    for rule in rules:
        if rule.rule_type != RuleType.TIME_BASED:
            continue
        days_before = rule.conditions.get("days_before")
        candidates = [
            parse_instant(rule.conditions.get("start")),
            parse_instant(rule.conditions.get("end")),
            ctx.event_start - timedelta(days=int(days_before)) if days_before is not None else None,
        ]
        boundaries.extend(c for c in candidates if c is not None and c > ctx.now)
    return min(boundaries, default=None)
