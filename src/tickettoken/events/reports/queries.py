"""The report queries, all computed in PostgreSQL.

One definition of a sale everywhere: an order that was paid (``paid``, ``partially_refunded``,
``refunded``), dated by ``paid_at``; gross is its total, refunds its refunded amount, net the
difference; tickets are its order items' quantities summed per order in a subquery, so joining
never multiplies money (the original summed amounts after joins, and de-duplicated equal amounts).
Filters: ``venue_ids`` (None: all), ``event_id``, ``date_from`` (inclusive), ``date_to``
(exclusive).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

PAID_ORDERS = """
    SELECT o.id, o.customer_id, o.event_id, e.venue_id, o.total, o.refunded_amount,
           coalesce(o.paid_at, o.created_at) AS paid_at,
           (SELECT coalesce(sum(oi.quantity), 0)::int FROM order_items oi
            WHERE oi.order_id = o.id) AS tickets
    FROM orders o JOIN events e ON e.id = o.event_id
    WHERE o.status IN ('paid', 'partially_refunded', 'refunded')
      AND (CAST(:venue_ids AS uuid[]) IS NULL OR e.venue_id = ANY(CAST(:venue_ids AS uuid[])))
      AND (CAST(:event_id AS uuid) IS NULL OR o.event_id = CAST(:event_id AS uuid))
      AND (CAST(:date_from AS timestamptz) IS NULL
           OR coalesce(o.paid_at, o.created_at) >= CAST(:date_from AS timestamptz))
      AND (CAST(:date_to AS timestamptz) IS NULL
           OR coalesce(o.paid_at, o.created_at) < CAST(:date_to AS timestamptz))
"""

MONEY = """
    count(*) AS orders,
    coalesce(sum(tickets), 0) AS tickets,
    coalesce(sum(total), 0) AS gross,
    coalesce(sum(refunded_amount), 0) AS refunds,
    coalesce(sum(total - refunded_amount), 0) AS net
"""

_SALES = text(
    f"""
    WITH paid AS ({PAID_ORDERS})
    SELECT date_trunc(:unit, paid_at AT TIME ZONE 'UTC') AS period, {MONEY}
    FROM paid
    GROUP BY ROLLUP (1)
    ORDER BY 1 NULLS LAST
    """
)

_VENUE_COMPARISON = text(
    f"""
    WITH paid AS ({PAID_ORDERS}),
    per_venue AS (SELECT venue_id, {MONEY} FROM paid GROUP BY venue_id)
    SELECT v.id AS venue_id, v.name, v.city,
           (SELECT count(*) FROM events e
            WHERE e.venue_id = v.id AND e.deleted_at IS NULL) AS events,
           coalesce(s.orders, 0) AS orders, coalesce(s.tickets, 0) AS tickets,
           coalesce(s.gross, 0) AS gross, coalesce(s.refunds, 0) AS refunds,
           coalesce(s.net, 0) AS net,
           CASE WHEN coalesce(s.tickets, 0) > 0 THEN round(s.gross / s.tickets, 2) ELSE 0 END
               AS average_ticket_price
    FROM venues v LEFT JOIN per_venue s ON s.venue_id = v.id
    WHERE v.deleted_at IS NULL
      AND (CAST(:venue_ids AS uuid[]) IS NULL OR v.id = ANY(CAST(:venue_ids AS uuid[])))
    ORDER BY net DESC, v.name, v.id
    """
)

_CUSTOMER_INSIGHTS = text(
    f"""
    WITH paid AS ({PAID_ORDERS}),
    per_customer AS (
        SELECT customer_id, count(*) AS orders, sum(tickets) AS tickets,
               sum(total - refunded_amount) AS net
        FROM paid GROUP BY customer_id
    )
    SELECT
        (SELECT count(*) FROM customers c
         WHERE CAST(:venue_ids AS uuid[]) IS NULL
            OR c.venue_id = ANY(CAST(:venue_ids AS uuid[]))) AS customers,
        (SELECT count(*) FROM per_customer) AS buying_customers,
        (SELECT count(*) FROM per_customer WHERE orders > 1) AS repeat_customers,
        (SELECT coalesce(round(avg(total), 2), 0) FROM paid) AS average_order_value,
        (SELECT coalesce(round(avg(tickets), 2), 0) FROM paid) AS average_tickets_per_order,
        (SELECT coalesce(round(avg(net), 2), 0) FROM per_customer) AS average_spend_per_customer,
        (SELECT coalesce(sum(net), 0) FROM per_customer) AS net
    """
)

_TOP_CUSTOMERS = text(
    f"""
    WITH paid AS ({PAID_ORDERS})
    SELECT c.id AS customer_id, c.email, c.first_name, c.last_name,
           count(*) AS orders, sum(p.tickets) AS tickets, sum(p.total - p.refunded_amount) AS net
    FROM paid p JOIN customers c ON c.id = p.customer_id
    GROUP BY c.id
    ORDER BY net DESC, orders DESC, c.id
    LIMIT :limit
    """
)


def filters(
    venue_ids: list[uuid.UUID] | None,
    event_id: uuid.UUID | None,
    date_from: datetime | None,
    date_to: datetime | None,
) -> dict[str, Any]:
    return {
        "venue_ids": venue_ids,
        "event_id": event_id,
        "date_from": date_from,
        "date_to": date_to,
    }


async def sales_by_period(
    session: AsyncSession, params: dict[str, Any], unit: str
) -> list[dict[str, Any]]:
    rows = await session.execute(_SALES, {**params, "unit": unit})
    return [dict(row) for row in rows.mappings()]


async def venue_comparison(session: AsyncSession, params: dict[str, Any]) -> list[dict[str, Any]]:
    rows = await session.execute(_VENUE_COMPARISON, params)
    return [dict(row) for row in rows.mappings()]


async def customer_insights(session: AsyncSession, params: dict[str, Any]) -> dict[str, Any]:
    row = (await session.execute(_CUSTOMER_INSIGHTS, params)).mappings().one()
    return dict(row)


async def top_customers(
    session: AsyncSession, params: dict[str, Any], limit: int
) -> list[dict[str, Any]]:
    rows = await session.execute(_TOP_CUSTOMERS, {**params, "limit": limit})
    return [dict(row) for row in rows.mappings()]


async def venue_of_event(session: AsyncSession, event_id: uuid.UUID) -> uuid.UUID | None:
    row = (
        await session.execute(
            text("SELECT venue_id FROM events WHERE id = :id AND deleted_at IS NULL"),
            {"id": event_id},
        )
    ).first()
    return row[0] if row else None
