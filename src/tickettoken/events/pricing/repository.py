"""Every query of the pricing domain."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.events.models import Event
from tickettoken.events.pricing.models import PricingRule
from tickettoken.events.ticket_types.models import TicketType


async def active_rules_for(
    session: AsyncSession, ticket_type_id: uuid.UUID
) -> Sequence[PricingRule]:
    rows = await session.scalars(
        select(PricingRule)
        .where(PricingRule.ticket_type_id == ticket_type_id, PricingRule.active.is_(True))
        .order_by(PricingRule.priority, PricingRule.id)
    )
    return rows.all()


async def event_start(session: AsyncSession, event_id: uuid.UUID) -> datetime:
    start = await session.scalar(select(Event.start_date).where(Event.id == event_id))
    if start is None:
        raise LookupError(f"event {event_id} has no row")
    return start


async def rules_of_event(session: AsyncSession, event_id: uuid.UUID) -> Sequence[PricingRule]:
    rows = await session.scalars(
        select(PricingRule)
        .join(TicketType, TicketType.id == PricingRule.ticket_type_id)
        .where(TicketType.event_id == event_id)
        .order_by(PricingRule.ticket_type_id, PricingRule.priority, PricingRule.id)
    )
    return rows.all()


async def get_rule(session: AsyncSession, rule_id: uuid.UUID) -> PricingRule | None:
    return await session.get(PricingRule, rule_id)


async def ticket_types_of_event(session: AsyncSession, event_id: uuid.UUID) -> Sequence[TicketType]:
    rows = await session.scalars(
        select(TicketType).where(TicketType.event_id == event_id).order_by(TicketType.created_at)
    )
    return rows.all()
