"""Every query of the ticket types domain."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.ticket_types.models import TicketType


async def list_for_event(session: AsyncSession, event_id: uuid.UUID) -> Sequence[TicketType]:
    rows = await session.scalars(
        select(TicketType)
        .where(TicketType.event_id == event_id)
        .order_by(TicketType.created_at, TicketType.id)
    )
    return rows.all()


async def get_for_event(
    session: AsyncSession, event_id: uuid.UUID, type_id: uuid.UUID, *, for_update: bool = False
) -> TicketType | None:
    query = select(TicketType).where(TicketType.id == type_id, TicketType.event_id == event_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def total_quantity(
    session: AsyncSession, event_id: uuid.UUID, *, excluding: uuid.UUID | None = None
) -> int:
    query = select(func.coalesce(func.sum(TicketType.quantity), 0)).where(
        TicketType.event_id == event_id
    )
    if excluding is not None:
        query = query.where(TicketType.id != excluding)
    return int(await session.scalar(query) or 0)
