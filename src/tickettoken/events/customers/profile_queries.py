"""The SQL behind customer profiles: statistics, history, favourite categories, upcoming events.

Money counts paid orders (paid, partially refunded, refunded) net of refunds; tickets count the
order items of those orders, each order summed once (no join fan-out).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

PAID_STATUSES = "('paid', 'partially_refunded', 'refunded')"

_STATISTICS = text(
    f"""
    WITH paid AS (
        SELECT o.id, o.total, o.refunded_amount, coalesce(o.paid_at, o.created_at) AS paid_at,
               (SELECT coalesce(sum(oi.quantity), 0)::int FROM order_items oi
                WHERE oi.order_id = o.id) AS tickets
        FROM orders o
        WHERE o.customer_id = ANY(:customer_ids) AND o.status IN {PAID_STATUSES}
    )
    SELECT count(*) AS orders,
           coalesce(sum(tickets), 0) AS tickets,
           coalesce(sum(total), 0) AS gross,
           coalesce(sum(refunded_amount), 0) AS refunded,
           coalesce(sum(total - refunded_amount), 0) AS net,
           CASE WHEN count(*) > 0 THEN round(sum(total) / count(*), 2) ELSE 0 END
               AS average_order_value,
           min(paid_at) AS first_purchase_at,
           max(paid_at) AS last_purchase_at
    FROM paid
    """
)

_HISTORY = text(
    """
    SELECT o.id, o.status, o.total, o.refunded_amount, o.currency, o.created_at, o.paid_at,
           e.id AS event_id, e.name AS event_name, e.category, e.start_date, v.name AS venue_name,
           (SELECT coalesce(sum(oi.quantity), 0)::int FROM order_items oi
            WHERE oi.order_id = o.id) AS tickets
    FROM orders o JOIN events e ON e.id = o.event_id JOIN venues v ON v.id = e.venue_id
    WHERE o.customer_id = ANY(:customer_ids)
    ORDER BY o.created_at DESC, o.id
    LIMIT :limit
    """
)

_FAVOURITE_CATEGORIES = text(
    f"""
    SELECT e.category, count(DISTINCT o.id) AS orders,
           coalesce(sum(oi.quantity), 0)::int AS tickets
    FROM orders o JOIN events e ON e.id = o.event_id JOIN order_items oi ON oi.order_id = o.id
    WHERE o.customer_id = ANY(:customer_ids) AND o.status IN {PAID_STATUSES}
    GROUP BY e.category
    ORDER BY tickets DESC, orders DESC, e.category
    """
)

_UPCOMING = text(
    """
    SELECT e.id, e.name, e.category, e.start_date, e.status, v.name AS venue_name,
           count(t.id) AS tickets
    FROM tickets t JOIN events e ON e.id = t.event_id JOIN venues v ON v.id = e.venue_id
    WHERE t.customer_id = ANY(:customer_ids) AND t.status = 'issued' AND e.start_date > now()
    GROUP BY e.id, v.name
    ORDER BY e.start_date, e.id
    """
)


async def statistics(session: AsyncSession, customer_ids: list[uuid.UUID]) -> dict[str, Any]:
    row = (await session.execute(_STATISTICS, {"customer_ids": customer_ids})).mappings().one()
    return dict(row)


async def history(
    session: AsyncSession, customer_ids: list[uuid.UUID], limit: int
) -> list[dict[str, Any]]:
    rows = await session.execute(_HISTORY, {"customer_ids": customer_ids, "limit": limit})
    return [dict(row) for row in rows.mappings()]


async def favourite_categories(
    session: AsyncSession, customer_ids: list[uuid.UUID]
) -> list[dict[str, Any]]:
    rows = await session.execute(_FAVOURITE_CATEGORIES, {"customer_ids": customer_ids})
    return [dict(row) for row in rows.mappings()]


async def upcoming_events(
    session: AsyncSession, customer_ids: list[uuid.UUID]
) -> list[dict[str, Any]]:
    rows = await session.execute(_UPCOMING, {"customer_ids": customer_ids})
    return [dict(row) for row in rows.mappings()]
