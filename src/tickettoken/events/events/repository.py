"""Every query of the events domain."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, column, exists, func, or_, select, table, text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.events.models import Event, EventStatus
from tickettoken.events.events.schemas import EventFilters

# The catalogue reads its events' ticket types (price filters, totals) through this read-only
# view of the table rather than the ticket-type domain's model: ticket types depend on events
# (their access rules), so importing their model here would make the two domains a cycle.
_TICKET_TYPES = table(
    "ticket_types",
    column("id"),
    column("event_id"),
    column("price"),
    column("quantity"),
    column("sold"),
    column("reserved"),
)


async def get_event(
    session: AsyncSession, event_id: uuid.UUID, *, for_update: bool = False
) -> Event | None:
    query = select(Event).where(Event.id == event_id, Event.deleted_at.is_(None))
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def event_capacity(session: AsyncSession, event_id: uuid.UUID) -> int:
    value = await session.scalar(select(Event.capacity).where(Event.id == event_id))
    return int(value or 0)


async def duplicate_exists(
    session: AsyncSession,
    venue_id: uuid.UUID,
    name: str,
    start: datetime,
    exclude_id: uuid.UUID | None,
) -> bool:
    """Another non-deleted event with this name (any case) at the venue on the same UTC date."""
    query = select(
        exists().where(
            Event.venue_id == venue_id,
            func.lower(Event.name) == name.lower(),
            func.date(func.timezone("UTC", Event.start_date)) == start.astimezone(UTC).date(),
            Event.deleted_at.is_(None),
            Event.id != exclude_id if exclude_id else and_(True),
        )
    )
    return bool(await session.scalar(query))


def visibility_clause(venue_ids: Collection[str] | None) -> ColumnElement[bool]:
    """Drafts are visible only to the staff of their venue (``None``: to everybody, for admins)."""
    if venue_ids is None:
        return and_(True)
    ids = [uuid.UUID(v) for v in venue_ids if _is_uuid(v)]
    return or_(Event.status != EventStatus.DRAFT, Event.venue_id.in_(ids))


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def filter_clauses(filters: EventFilters) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [Event.deleted_at.is_(None)]
    if filters.status is not None:
        clauses.append(Event.status == filters.status.value)
    if filters.category is not None:
        clauses.append(Event.category == filters.category.value)
    if filters.venue_id is not None:
        clauses.append(Event.venue_id == filters.venue_id)
    if filters.start_date is not None:
        clauses.append(Event.start_date >= _day_start(filters.start_date))
    if filters.end_date is not None and filters.end_date < date.max:
        clauses.append(Event.start_date < _day_start(filters.end_date + timedelta(days=1)))
    if filters.min_price is not None or filters.max_price is not None:
        price_clauses = [_TICKET_TYPES.c.event_id == Event.id]
        if filters.min_price is not None:
            price_clauses.append(_TICKET_TYPES.c.price >= filters.min_price)
        if filters.max_price is not None:
            price_clauses.append(_TICKET_TYPES.c.price <= filters.max_price)
        clauses.append(exists().where(*price_clauses))
    if filters.q:
        document = func.to_tsvector(
            text("'simple'"), Event.name + " " + func.coalesce(Event.description, "")
        )
        clauses.append(document.op("@@")(func.plainto_tsquery(text("'simple'"), filters.q)))
    return clauses


async def list_events(
    session: AsyncSession,
    filters: EventFilters,
    *,
    visible_venue_ids: Collection[str] | None,
    offset: int,
    limit: int,
) -> tuple[Sequence[Event], int]:
    where = [*filter_clauses(filters), visibility_clause(visible_venue_ids)]
    total = await session.scalar(select(func.count()).select_from(Event).where(*where))
    rows = await session.scalars(
        select(Event).where(*where).order_by(Event.start_date, Event.id).offset(offset).limit(limit)
    )
    return rows.all(), int(total or 0)


async def ticket_totals(session: AsyncSession, event_id: uuid.UUID) -> dict[str, int]:
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(_TICKET_TYPES.c.quantity), 0).label("quantity"),
                func.coalesce(func.sum(_TICKET_TYPES.c.sold), 0).label("sold"),
                func.coalesce(func.sum(_TICKET_TYPES.c.reserved), 0).label("reserved"),
                func.count(_TICKET_TYPES.c.id).label("types"),
            ).where(_TICKET_TYPES.c.event_id == event_id)
        )
    ).one()
    return {
        "quantity": int(row.quantity),
        "sold": int(row.sold),
        "reserved": int(row.reserved),
        "types": int(row.types),
    }


_EVENT_SALES = text(
    """
    SELECT
        (SELECT count(*) FROM orders o WHERE o.event_id = :event_id
            AND o.status IN ('paid', 'partially_refunded', 'refunded')) AS orders,
        (SELECT coalesce(sum(o.total), 0) FROM orders o WHERE o.event_id = :event_id
            AND o.status IN ('paid', 'partially_refunded', 'refunded')) AS gross_revenue,
        (SELECT coalesce(sum(o.refunded_amount), 0) FROM orders o WHERE o.event_id = :event_id
            AND o.status IN ('paid', 'partially_refunded', 'refunded')) AS refunded
    """
)

_TYPE_SALES = text(
    """
    SELECT tt.id, tt.name, tt.price, tt.quantity, tt.sold, tt.reserved,
           coalesce(s.revenue, 0) AS revenue
    FROM ticket_types tt
    LEFT JOIN (
        SELECT oi.ticket_type_id, sum(oi.subtotal) AS revenue
        FROM order_items oi JOIN orders o ON o.id = oi.order_id
        WHERE o.event_id = :event_id AND o.status IN ('paid', 'partially_refunded')
        GROUP BY oi.ticket_type_id
    ) s ON s.ticket_type_id = tt.id
    WHERE tt.event_id = :event_id
    ORDER BY tt.created_at, tt.id
    """
)


async def event_sales(session: AsyncSession, event_id: uuid.UUID) -> dict[str, Any]:
    row = (await session.execute(_EVENT_SALES, {"event_id": event_id})).mappings().one()
    return dict(row)


async def ticket_type_sales(session: AsyncSession, event_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await session.execute(_TYPE_SALES, {"event_id": event_id})
    return [dict(r) for r in rows.mappings()]


_LAST_SOLD_OUT_BY = text(
    """
    SELECT actor_role FROM audit_log
    WHERE entity_type = 'event' AND entity_id = :event_id AND after->>'status' = 'sold_out'
      AND (before IS NULL OR before->>'status' IS DISTINCT FROM 'sold_out')
    ORDER BY created_at DESC, id DESC LIMIT 1
    """
)


async def sold_out_by_a_person(session: AsyncSession, event_id: uuid.UUID) -> bool:
    """Whether the event's latest move to ``sold_out`` was a person's (a ``PUT``: sales stopped
    on purpose) rather than the platform's (its last tickets went), as the audit log says."""
    role = await session.scalar(_LAST_SOLD_OUT_BY, {"event_id": str(event_id)})
    return role is not None and role != "system"
