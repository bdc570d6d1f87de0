"""Every query of the venues domain, including the dashboard and analytics aggregates.

The sales figures of the dashboard and analytics read ``report_sales_daily`` (migration 0009:
charged orders per venue, event and day, kept by triggers): one indexed range per venue instead
of the venue's orders three times, and no order items summed per order.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.venues.models import Venue


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
        sales.orders, sales.gross_revenue, sales.refunded
    FROM (
        SELECT coalesce(sum(orders), 0) AS orders, coalesce(sum(gross), 0) AS gross_revenue,
               coalesce(sum(refunds), 0) AS refunded
        FROM report_sales_daily WHERE venue_id = :venue_id
    ) sales
    """
)

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
    sales AS (
        SELECT r.event_id, sum(r.live_tickets) AS tickets, sum(r.live_value) AS ticket_value,
               sum(r.gross - r.refunds) AS revenue
        FROM report_sales_daily r
        WHERE r.venue_id = :venue_id AND r.event_id IN (SELECT id FROM window_events)
        GROUP BY r.event_id
    )
    SELECT w.category, count(*) AS events,
           coalesce(sum(s.tickets), 0) AS tickets_sold,
           coalesce(sum(s.ticket_value), 0) AS ticket_value,
           coalesce(sum(s.revenue), 0) AS revenue
    FROM window_events w
    LEFT JOIN sales s ON s.event_id = w.id
    GROUP BY w.category ORDER BY w.category
    """
)


async def dashboard_totals(session: AsyncSession, venue_id: uuid.UUID) -> dict[str, Any]:
    row = (await session.execute(_DASHBOARD_TOTALS, {"venue_id": venue_id})).mappings().one()
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
        },
    )
    return [dict(r) for r in rows.mappings()]
