"""Property tests of the pricing engine (pure): order, conditions, rounding, floor at zero."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tickettoken.events.pricing.engine import (
    MAX_UNIT_PRICE,
    PricingContext,
    RuleSpec,
    apply_rules,
    next_time_boundary,
    percentage_sold,
    rule_applies,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
money = st.decimals(min_value=0, max_value=1_000_000, places=2, allow_nan=False)
signed = st.decimals(min_value=-500, max_value=500, places=2, allow_nan=False)
percent = st.decimals(min_value=-100, max_value=300, places=2, allow_nan=False)


@st.composite
def rules(draw: st.DrawFn) -> RuleSpec:
    rule_type = draw(st.sampled_from(["time_based", "demand_based", "group"]))
    if rule_type == "time_based":
        conditions: dict[str, object] = {"days_before": draw(st.integers(0, 60))}
    elif rule_type == "demand_based":
        conditions = {"percentage_sold": str(draw(st.integers(0, 100)))}
    else:
        conditions = {"min_quantity": draw(st.integers(1, 10))}
    adjustment_type = draw(st.sampled_from(["percentage", "fixed"]))
    value = draw(percent if adjustment_type == "percentage" else signed)
    return RuleSpec(
        id=uuid.UUID(int=draw(st.integers(0, 2**64))),
        rule_type=rule_type,
        conditions=conditions,
        adjustment_type=adjustment_type,
        adjustment_value=value,
        priority=draw(st.integers(0, 5)),
    )


@st.composite
def contexts(draw: st.DrawFn) -> PricingContext:
    return PricingContext(
        now=NOW,
        event_start=NOW + timedelta(hours=draw(st.integers(2, 24 * 90))),
        quantity=draw(st.integers(1, 10)),
        percentage_sold=percentage_sold(draw(st.integers(0, 100)), 100),
    )


@settings(max_examples=300)
@given(money, st.lists(rules(), max_size=6), contexts())
def test_price_is_never_negative_and_always_in_cents(
    base: Decimal, rule_list: list[RuleSpec], ctx: PricingContext
) -> None:
    price, _ = apply_rules(base, rule_list, ctx)
    assert 0 <= price <= MAX_UNIT_PRICE
    assert price == price.quantize(Decimal("0.01"))


@settings(max_examples=300)
@given(money, st.lists(rules(), max_size=6, unique_by=lambda r: r.id), contexts(), st.randoms())
def test_rules_apply_in_priority_order_as_a_chain_whatever_their_input_order(
    base: Decimal, rule_list: list[RuleSpec], ctx: PricingContext, rnd: object
) -> None:
    price, applied = apply_rules(base, rule_list, ctx)
    shuffled = list(rule_list)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert apply_rules(base, shuffled, ctx) == (price, applied)
    by_id = {r.id: r for r in rule_list}
    priorities = [by_id[a.rule_id].priority for a in applied]
    assert priorities == sorted(priorities)
    assert {a.rule_id for a in applied} == {r.id for r in rule_list if rule_applies(r, ctx)}
    running = base
    for step in applied:
        assert step.price_before == running
        running = step.price_after
    assert running == price


@given(money, contexts())
def test_without_rules_the_price_is_the_base(base: Decimal, ctx: PricingContext) -> None:
    assert apply_rules(base, [], ctx) == (base, ())


@given(money, percent, contexts())
def test_one_percentage_rule_rounds_half_up_and_floors_at_zero(
    base: Decimal, value: Decimal, ctx: PricingContext
) -> None:
    rule = RuleSpec(uuid.uuid4(), "group", {"min_quantity": 1}, "percentage", value)
    exact = (base + base * value / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    expected = min(MAX_UNIT_PRICE, max(Decimal("0.00"), exact))
    assert apply_rules(base, [rule], ctx)[0] == expected


@given(st.integers(1, 10), st.integers(1, 10))
def test_group_rule_applies_from_its_minimum_quantity(quantity: int, minimum: int) -> None:
    ctx = PricingContext(NOW, NOW + timedelta(days=5), quantity, Decimal(0))
    rule = RuleSpec(uuid.uuid4(), "group", {"min_quantity": minimum}, "fixed", Decimal("-1"))
    assert rule_applies(rule, ctx) == (quantity >= minimum)


@given(st.integers(0, 100), st.integers(1, 100), st.integers(0, 100))
def test_demand_rule_applies_from_its_sold_percentage(sold: int, quantity: int, t: int) -> None:
    sold = min(sold, quantity)
    ctx = PricingContext(NOW, NOW + timedelta(days=5), 1, percentage_sold(sold, quantity))
    rule = RuleSpec(uuid.uuid4(), "demand_based", {"percentage_sold": t}, "fixed", Decimal("5"))
    assert rule_applies(rule, ctx) == (sold * 100 >= t * quantity)


@given(st.integers(0, 24 * 120), st.integers(0, 100))
def test_early_bird_applies_while_enough_days_remain_and_expires_at_the_boundary(
    hours_left: int, days_before: int
) -> None:
    start = NOW + timedelta(hours=hours_left)
    ctx = PricingContext(NOW, start, 1, Decimal(0))
    rule = RuleSpec(uuid.uuid4(), "time_based", {"days_before": days_before}, "fixed", Decimal(-5))
    assert rule_applies(rule, ctx) == (hours_left >= days_before * 24)
    boundary = next_time_boundary([rule], ctx)
    if hours_left > days_before * 24:
        assert boundary == start - timedelta(days=days_before)
    else:
        assert boundary is None


def test_date_window_applies_inside_it_only() -> None:
    rule = RuleSpec(
        uuid.uuid4(),
        "time_based",
        {
            "start": (NOW - timedelta(days=1)).isoformat(),
            "end": (NOW + timedelta(days=1)).isoformat(),
        },
        "percentage",
        Decimal("-10"),
    )
    start = NOW + timedelta(days=30)
    inside = PricingContext(NOW, start, 1, Decimal(0))
    after = PricingContext(NOW + timedelta(days=1), start, 1, Decimal(0))
    before = PricingContext(NOW - timedelta(days=2), start, 1, Decimal(0))
    assert rule_applies(rule, inside) and not rule_applies(rule, after)
    assert not rule_applies(rule, before)
    assert apply_rules(Decimal("80.00"), [rule], inside)[0] == Decimal("72.00")
