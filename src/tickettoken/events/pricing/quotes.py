"""``quote_price``: the one price computation shared by ``/pricing`` and reservations.

SPEC 4.2: "the price shown by /pricing is the price a reservation locks". Both call this function
with the same inputs (ticket type row, quantity, now), so the guarantee holds by construction; the
cache in front of ``/pricing`` is invalidated by every write that changes an input and expires at
the next time-rule boundary.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.pricing import repository
from tickettoken.events.pricing.engine import (
    AppliedRule,
    PricingContext,
    RuleSpec,
    apply_rules,
    next_time_boundary,
    percentage_sold,
)
from tickettoken.events.pricing.models import PricingRule
from tickettoken.events.ticket_types.models import TicketType
from tickettoken.kit.money import to_money


@dataclass(frozen=True)
class PriceQuote:
    ticket_type_id: uuid.UUID
    currency: str
    quantity: int
    base_price: Decimal
    unit_price: Decimal
    applied_rules: tuple[AppliedRule, ...]
    valid_until: datetime | None

    @property
    def total(self) -> Decimal:
        return to_money(self.unit_price * self.quantity)

    @property
    def difference(self) -> Decimal:
        return to_money(self.unit_price - self.base_price)

    @property
    def percent_change(self) -> Decimal:
        if self.base_price == 0:
            return Decimal("0.00")
        return to_money(self.difference * 100 / self.base_price)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (money as strings with 2 places), used by the API and the cache."""
        return {
            "ticket_type_id": str(self.ticket_type_id),
            "currency": self.currency,
            "quantity": self.quantity,
            "base_price": str(self.base_price),
            "current_price": str(self.unit_price),
            "difference": str(self.difference),
            "percent_change": str(self.percent_change),
            "total": str(self.total),
            "applied_rules": [
                {
                    "rule_id": str(rule.rule_id),
                    "rule_type": rule.rule_type,
                    "adjustment": {
                        "type": rule.adjustment_type,
                        "value": str(rule.adjustment_value),
                    },
                    "price_before": str(rule.price_before),
                    "price_after": str(rule.price_after),
                }
                for rule in self.applied_rules
            ],
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
        }


def rule_spec(rule: PricingRule) -> RuleSpec:
    return RuleSpec(
        id=rule.id,
        rule_type=rule.rule_type,
        conditions=rule.conditions,
        adjustment_type=rule.adjustment_type,
        adjustment_value=rule.adjustment_value,
        priority=rule.priority,
    )


async def quote_price(
    session: AsyncSession, ticket_type: TicketType, quantity: int, now: datetime
) -> PriceQuote:
    """The unit price of ``quantity`` tickets of ``ticket_type`` at ``now``.

    Demand is the ticket type's real ``sold`` counter (lock the row first when reserving);
    group rules see ``quantity``.
    """
    rules = [rule_spec(r) for r in await repository.active_rules_for(session, ticket_type.id)]
    context = PricingContext(
        now=now,
        event_start=await repository.event_start(session, ticket_type.event_id),
        quantity=quantity,
        percentage_sold=percentage_sold(ticket_type.sold, ticket_type.quantity),
    )
    unit_price, applied = apply_rules(ticket_type.price, rules, context)
    return PriceQuote(
        ticket_type_id=ticket_type.id,
        currency=ticket_type.currency,
        quantity=quantity,
        base_price=to_money(ticket_type.price),
        unit_price=unit_price,
        applied_rules=applied,
        valid_until=next_time_boundary(rules, context),
    )
