"""Pricing rule CRUD: staff of the event's venue read them, its admins change them.

Every change writes an audit record and invalidates the event's cached prices after commit.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.audit.service import entity_snapshot, record_audit
from tickettoken.events.cache import schedule_event_invalidation
from tickettoken.events.events.models import Event
from tickettoken.events.events.service import ensure_modifiable, managed_event, staff_event
from tickettoken.events.pricing import repository
from tickettoken.events.pricing.models import PricingRule, RuleType
from tickettoken.events.pricing.quotes import quote_price
from tickettoken.events.pricing.schemas import (
    PricingRuleCreate,
    PricingRuleUpdate,
    normalized_conditions,
)
from tickettoken.events.ticket_types.service import ticket_type_of_event
from tickettoken.kit.auth import Principal
from tickettoken.kit.errors import NotFound, ValidationFailed
from tickettoken.kit.kv import KeyValueStore


async def list_rules(
    session: AsyncSession, principal: Principal, event_id: uuid.UUID
) -> list[PricingRule]:
    event = await staff_event(session, principal, event_id)
    return list(await repository.rules_of_event(session, event.id))


async def _rule_of_event(session: AsyncSession, event: Event, rule_id: uuid.UUID) -> PricingRule:
    rule = await repository.get_rule(session, rule_id)
    if rule is None:
        raise NotFound("Pricing rule not found")
    ticket_type = await ticket_type_of_event(session, event.id, rule.ticket_type_id)
    if ticket_type is None:
        raise NotFound("Pricing rule not found")
    return rule


async def create_rule(
    session: AsyncSession,
    kv: KeyValueStore,
    principal: Principal,
    event_id: uuid.UUID,
    data: PricingRuleCreate,
) -> PricingRule:
    event = await managed_event(session, principal, event_id)
    ensure_modifiable(event, datetime.now(UTC))
    ticket_type = await ticket_type_of_event(session, event.id, data.ticket_type_id)
    if ticket_type is None:
        raise NotFound("Ticket type not found for this event")
    rule = PricingRule(
        ticket_type_id=ticket_type.id,
        rule_type=data.rule_type.value,
        conditions=data.conditions,
        adjustment_type=data.adjustment.type.value,
        adjustment_value=data.adjustment.value,
        priority=data.priority,
        active=data.active,
    )
    session.add(rule)
    await session.flush()
    await record_audit(
        session, principal, "create", "pricing_rule", rule.id, None, entity_snapshot(rule)
    )
    schedule_event_invalidation(session, kv, event.id)
    return rule


async def update_rule(
    session: AsyncSession,
    kv: KeyValueStore,
    principal: Principal,
    event_id: uuid.UUID,
    rule_id: uuid.UUID,
    data: PricingRuleUpdate,
) -> PricingRule:
    event = await managed_event(session, principal, event_id)
    ensure_modifiable(event, datetime.now(UTC))
    rule = await _rule_of_event(session, event, rule_id)
    before = entity_snapshot(rule)
    rule_type = data.rule_type or RuleType(rule.rule_type)
    conditions = data.conditions if data.conditions is not None else rule.conditions
    try:
        rule.conditions = normalized_conditions(rule_type, conditions)
    except ValidationError as exc:
        details = [
            {"field": "body.conditions." + ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors()
        ]
        raise ValidationFailed("conditions do not fit the rule type", details=details) from exc
    rule.rule_type = rule_type.value
    if data.adjustment is not None:
        rule.adjustment_type = data.adjustment.type.value
        rule.adjustment_value = data.adjustment.value
    if data.priority is not None:
        rule.priority = data.priority
    if data.active is not None:
        rule.active = data.active
    await session.flush()
    await record_audit(
        session,
        principal,
        "update",
        "pricing_rule",
        rule.id,
        before,
        entity_snapshot(rule),
    )
    schedule_event_invalidation(session, kv, event.id)
    return rule


async def delete_rule(
    session: AsyncSession,
    kv: KeyValueStore,
    principal: Principal,
    event_id: uuid.UUID,
    rule_id: uuid.UUID,
) -> None:
    event = await managed_event(session, principal, event_id)
    ensure_modifiable(event, datetime.now(UTC))
    rule = await _rule_of_event(session, event, rule_id)
    before = entity_snapshot(rule)
    await session.delete(rule)
    await session.flush()
    await record_audit(session, principal, "delete", "pricing_rule", rule_id, before, None)
    schedule_event_invalidation(session, kv, event.id)


async def event_prices(
    session: AsyncSession, event: Event, quantity: int, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Every ticket type's quote: the same ``quote_price`` reservations lock."""
    moment = now or datetime.now(UTC)
    quotes = []
    for ticket_type in await repository.ticket_types_of_event(session, event.id):
        quote = await quote_price(session, ticket_type, quantity, moment)
        quotes.append({"name": ticket_type.name, **quote.to_dict()})
    return quotes
