"""Every query of the venues domain, including the dashboard and analytics aggregates.

The aggregates read orders and order items (the sales half's tables) in SQL, one grouped
subquery per table, so that joining items never multiplies order totals and many orders of the
same amount are all counted (no DISTINCT on amounts).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import date
from typing import Any

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.venues.models import Venue

# Orders whose money was taken at some point; refunds are subtracted via refunded_amount.
CHARGED_STATUSES = ("paid", "partially_refunded", "refunded")


async def insert_venue(session: AsyncSession, venue: Venue) -> Venue:
    session.add(venue)
    await session.flush()
    return venue


async def get_venue(session: AsyncSession, venue_id: uuid.UUID) -> Venue | None:
    return await session.scalar(
        select(Venue).where(Venue.id == venue_id, Venue.deleted_at.is_(None))
    )


async def list_venues(
    session: AsyncSession, *, only_ids: Collection[str] | None, offset: int, limit: int
) -> tuple[Sequence[Venue], int]:
    query = select(Venue).where(Venue.deleted_at.is_(None))
    if only_ids is not None:
        ids = [uuid.UUID(v) for v in only_ids if _is_uuid(v)]
        query = query.where(Venue.id.in_(ids))
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(Venue.created_at.desc(), Venue.id).offset(offset).limit(limit)
    )
    return rows.all(), int(total or 0)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


async def largest_active_event_capacity(session: AsyncSession, venue_id: uuid.UUID) -> int:
    value = await session.scalar(
        text(
            "SELECT coalesce(max(capacity), 0) FROM events WHERE venue_id = :venue_id"
            " AND deleted_at IS NULL AND status NOT IN ('completed', 'cancelled')"
        ),
        {"venue_id": venue_id},
    )
    return int(value or 0)


# "Upcoming" on the dashboard (its count and its list alike): announced (published, sold out or
# postponed), not deleted, not started yet. Drafts are not announced; cancelled and completed
# events are not coming.
_UPCOMING = (
    "e.venue_id = :venue_id AND e.deleted_at IS NULL AND e.start_date >= now()"
    " AND e.status IN ('published', 'sold_out', 'postponed')"
)

_DASHBOARD_TOTALS = text(
    f"""
    SELECT
        (SELECT count(*) FROM events e WHERE e.venue_id = :venue_id AND e.deleted_at IS NULL)
            AS events,
        (SELECT count(*) FROM events e WHERE {_UPCOMING}) AS upcoming_events,
        (SELECT coalesce(sum(tt.quantity), 0) FROM ticket_types tt
            JOIN events e ON e.id = tt.event_id
            WHERE e.venue_id = :venue_id AND e.deleted_at IS NULL) AS tickets_total,
        (SELECT coalesce(sum(tt.sold), 0) FROM ticket_types tt
            JOIN events e ON e.id = tt.event_id
            WHERE e.venue_id = :venue_id AND e.deleted_at IS NULL) AS tickets_sold,
        (SELECT coalesce(sum(tt.reserved), 0) FROM ticket_types tt
            JOIN events e ON e.id = tt.event_id
            WHERE e.venue_id = :venue_id AND e.deleted_at IS NULL) AS tickets_reserved,
        (SELECT count(*) FROM orders o JOIN events e ON e.id = o.event_id
            WHERE e.venue_id = :venue_id AND o.status IN :charged) AS orders,
        (SELECT coalesce(sum(o.total), 0) FROM orders o JOIN events e ON e.id = o.event_id
            WHERE e.venue_id = :venue_id AND o.status IN :charged) AS gross_revenue,
        (SELECT coalesce(sum(o.refunded_amount), 0) FROM orders o
            JOIN events e ON e.id = o.event_id
            WHERE e.venue_id = :venue_id AND o.status IN :charged) AS refunded
    """
).bindparams(bindparam("charged", expanding=True))

_UPCOMING_EVENTS = text(
    f"""
    SELECT e.id, e.name, e.category, e.status, e.start_date, e.capacity,
           coalesce((SELECT sum(tt.sold) FROM ticket_types tt WHERE tt.event_id = e.id), 0)
               AS sold
    FROM events e
    WHERE {_UPCOMING}
    ORDER BY e.start_date, e.id
    LIMIT :limit
    """
)

_CATEGORY_DISTRIBUTION = text(
    """
    SELECT category, count(*) AS events FROM events
    WHERE venue_id = :venue_id AND deleted_at IS NULL
    GROUP BY category ORDER BY category
    """
)

_CATEGORY_ANALYTICS = text(
    """
    WITH window_events AS (
        SELECT e.id, e.category FROM events e
        WHERE e.venue_id = :venue_id AND e.deleted_at IS NULL
          AND (e.start_date AT TIME ZONE :tz)::date BETWEEN :start_date AND :end_date
    ),
    ticket_sales AS (
        SELECT o.event_id, sum(oi.quantity) AS tickets, sum(oi.subtotal) AS ticket_value
        FROM orders o JOIN order_items oi ON oi.order_id = o.id
        WHERE o.status IN ('paid', 'partially_refunded')
          AND o.event_id IN (SELECT id FROM window_events)
        GROUP BY o.event_id
    ),
    net_revenue AS (
        SELECT o.event_id, sum(o.total - o.refunded_amount) AS revenue
        FROM orders o
        WHERE o.status IN :charged AND o.event_id IN (SELECT id FROM window_events)
        GROUP BY o.event_id
    )
    SELECT w.category, count(*) AS events,
           coalesce(sum(s.tickets), 0) AS tickets_sold,
           coalesce(sum(s.ticket_value), 0) AS ticket_value,
           coalesce(sum(r.revenue), 0) AS revenue
    FROM window_events w
    LEFT JOIN ticket_sales s ON s.event_id = w.id
    LEFT JOIN net_revenue r ON r.event_id = w.id
    GROUP BY w.category ORDER BY w.category
    """
).bindparams(bindparam("charged", expanding=True))


async def dashboard_totals(session: AsyncSession, venue_id: uuid.UUID) -> dict[str, Any]:
    row = (
        (
            await session.execute(
                _DASHBOARD_TOTALS, {"venue_id": venue_id, "charged": CHARGED_STATUSES}
            )
        )
        .mappings()
        .one()
    )
    return dict(row)


async def upcoming_events(
    session: AsyncSession, venue_id: uuid.UUID, limit: int = 5
) -> list[dict[str, Any]]:
    rows = await session.execute(_UPCOMING_EVENTS, {"venue_id": venue_id, "limit": limit})
    return [dict(r) for r in rows.mappings()]


async def category_distribution(session: AsyncSession, venue_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await session.execute(_CATEGORY_DISTRIBUTION, {"venue_id": venue_id})
    return [dict(r) for r in rows.mappings()]


async def category_analytics(
    session: AsyncSession, venue_id: uuid.UUID, timezone: str, start_date: date, end_date: date
) -> list[dict[str, Any]]:
    rows = await session.execute(
        _CATEGORY_ANALYTICS,
        {
            "venue_id": venue_id,
            "tz": timezone,
            "start_date": start_date,
            "end_date": end_date,
            "charged": CHARGED_STATUSES,
        },
    )
    return [dict(r) for r in rows.mappings()]
