"""HTTP routes of pricing rules and ``/pricing`` (SPEC 4.1)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from tickettoken.events import cache
from tickettoken.events.dependencies import DbSession, KeyValue
from tickettoken.events.events.service import visible_event
from tickettoken.events.pricing import rules
from tickettoken.events.pricing.schemas import (
    EventPricing,
    PricingRuleCreate,
    PricingRuleRead,
    PricingRuleUpdate,
    RuleDeleted,
    rule_view,
)
from tickettoken.kit.auth import Caller
from tickettoken.kit.contracts import AUTHENTICATED, COMMON_ERRORS, Ok, created, errors, link
from tickettoken.kit.pagination import ok

router = APIRouter(
    prefix="/api/v1/events/{event_id}",
    tags=["pricing"],
    responses={**COMMON_ERRORS, **AUTHENTICATED, **errors(404)},
)
CHANGES = errors(400, 409, 413)
_RULE = "/api/v1/events/{event_id}/pricing-rules/{rule_id}"
_NEW_RULE = {"path.event_id": "$request.path.event_id", "path.rule_id": "$response.body#/data/id"}
RULE_CREATED = created(
    201,
    "The pricing rule",
    UpdatePricingRule=link(_RULE, "PUT", parameters=_NEW_RULE),
    DeletePricingRule=link(_RULE, "DELETE", parameters=_NEW_RULE),
)


@router.get("/pricing-rules", response_model=Ok[list[PricingRuleRead]])
async def list_pricing_rules(
    event_id: uuid.UUID, session: DbSession, principal: Caller
) -> dict[str, Any]:
    return ok([rule_view(r) for r in await rules.list_rules(session, principal, event_id)])


@router.post(
    "/pricing-rules",
    status_code=201,
    response_model=Ok[PricingRuleRead],
    responses={**CHANGES, **RULE_CREATED},
)
async def create_pricing_rule(
    event_id: uuid.UUID,
    body: PricingRuleCreate,
    session: DbSession,
    kv: KeyValue,
    principal: Caller,
) -> dict[str, Any]:
    rule = await rules.create_rule(session, kv, principal, event_id, body)
    return ok(rule_view(rule))


@router.put("/pricing-rules/{rule_id}", response_model=Ok[PricingRuleRead], responses=CHANGES)
async def update_pricing_rule(
    event_id: uuid.UUID,
    rule_id: uuid.UUID,
    body: PricingRuleUpdate,
    session: DbSession,
    kv: KeyValue,
    principal: Caller,
) -> dict[str, Any]:
    rule = await rules.update_rule(session, kv, principal, event_id, rule_id, body)
    return ok(rule_view(rule))


@router.delete("/pricing-rules/{rule_id}", response_model=Ok[RuleDeleted], responses=errors(409))
async def delete_pricing_rule(
    event_id: uuid.UUID,
    rule_id: uuid.UUID,
    session: DbSession,
    kv: KeyValue,
    principal: Caller,
) -> dict[str, Any]:
    await rules.delete_rule(session, kv, principal, event_id, rule_id)
    return ok({"id": str(rule_id), "deleted": True})


def _seconds_until_first_boundary(quotes: list[dict[str, Any]]) -> float:
    """Cache prices at most until the next time-rule boundary (and at most the default TTL)."""
    now = datetime.now(UTC)
    ttl = cache.DEFAULT_TTL_SECONDS
    for quote in quotes:
        if quote["valid_until"]:
            remaining = (datetime.fromisoformat(quote["valid_until"]) - now).total_seconds()
            ttl = min(ttl, remaining)
    return ttl


@router.get("/pricing", response_model=Ok[EventPricing])
async def event_pricing(
    event_id: uuid.UUID,
    session: DbSession,
    kv: KeyValue,
    principal: Caller,
    quantity: Annotated[int, Query(ge=1, le=10, description="Tickets per order (group rules)")] = 1,
) -> dict[str, Any]:
    event = await visible_event(session, principal, event_id)

    async def load() -> list[dict[str, Any]]:
        return await rules.event_prices(session, event, quantity)

    quotes = await cache.cached(
        kv,
        event_id=event_id,
        kind="prices",
        params={"quantity": quantity},
        load=load,
        ttl_seconds=_seconds_until_first_boundary,
    )
    return ok({"event_id": str(event_id), "quantity": quantity, "ticket_types": quotes})
