"""Dating the demo season: the seed runs every step through the services today, then moves each
step's rows back to the moment it happened in the season.

Why: the services check their rules against the present (an event starts at least 2 hours from
now, sales close 30 minutes before the start, a hold expires 15 minutes after it was taken,
``completed`` only once started), so a season of past sales cannot be made through them at past
moments. Made today, in the season's order, every rule holds; moving a step's rows back by one
interval keeps every duration inside the step (hold, payment, issue) and, because the target
moments follow the season's order, the order between steps (created, published, sold, cancelled).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_ORDER_ROWS = (
    "UPDATE reservations SET created_at = created_at + :d, updated_at = updated_at + :d,"
    " expires_at = expires_at + :d, confirmed_at = confirmed_at + :d,"
    " released_at = released_at + :d WHERE id = CAST(:reservation AS uuid)",
    "UPDATE orders SET created_at = created_at + :d, updated_at = updated_at + :d,"
    " paid_at = paid_at + :d, cancelled_at = cancelled_at + :d"
    " WHERE id = CAST(:order AS uuid)",
    "UPDATE order_items SET created_at = created_at + :d, updated_at = updated_at + :d"
    " WHERE order_id = CAST(:order AS uuid)",
    "UPDATE tickets SET created_at = created_at + :d, updated_at = updated_at + :d,"
    " issued_at = issued_at + :d, invalidated_at = invalidated_at + :d"
    " WHERE order_id = CAST(:order AS uuid)",
    "UPDATE audit_log SET created_at = created_at + :d, updated_at = updated_at + :d"
    " WHERE entity_id IN (:order, :reservation)",
    "UPDATE jobs_money SET created_at = created_at + :d, updated_at = updated_at + :d,"
    " run_at = run_at + :d, started_at = started_at + :d, finished_at = finished_at + :d"
    " WHERE payload->>'order_id' = :order AND type = 'payment-process'",
    "UPDATE jobs_communication SET created_at = created_at + :d, updated_at = updated_at + :d,"
    " run_at = run_at + :d WHERE payload->>'message_id' = 'order-confirmation:' || :order",
)


async def date_sale(
    session: AsyncSession, reservation_id: uuid.UUID, order_id: uuid.UUID, delta: timedelta
) -> None:
    """Move one sale (its hold, order, items, tickets, payment job, mail and audit rows) by
    ``delta``, all together."""
    params = {"d": delta, "reservation": str(reservation_id), "order": str(order_id)}
    for statement in _ORDER_ROWS:
        await session.execute(text(statement), params)


async def date_event(
    session: AsyncSession,
    event_id: uuid.UUID,
    *,
    created: datetime,
    published: datetime | None,
    start_shift: timedelta,
) -> None:
    """The event (and its ticket types, pricing rules and their audit rows) created at
    ``created`` and published at ``published``; its dates moved by ``start_shift``."""
    params = {
        "event": str(event_id),
        "created": created,
        "published": published,
        "shift": start_shift,
        "settled": published or created,
    }
    statements = (
        "UPDATE events SET created_at = :created, updated_at = :settled,"
        " published_at = CAST(:published AS timestamptz), start_date = start_date + :shift,"
        " end_date = end_date + :shift, doors_open = doors_open + :shift"
        " WHERE id = CAST(:event AS uuid)",
        "UPDATE ticket_types SET created_at = :created, updated_at = :settled"
        " WHERE event_id = CAST(:event AS uuid)",
        "UPDATE pricing_rules SET created_at = :created, updated_at = :created"
        " WHERE ticket_type_id IN (SELECT id FROM ticket_types"
        " WHERE event_id = CAST(:event AS uuid))",
        "UPDATE audit_log SET created_at = CASE WHEN action = 'publish'"
        " THEN CAST(:settled AS timestamptz) ELSE CAST(:created AS timestamptz) END,"
        " updated_at = CASE WHEN action = 'publish' THEN CAST(:settled AS timestamptz)"
        " ELSE CAST(:created AS timestamptz) END WHERE entity_id = :event OR entity_id IN ("
        "  SELECT id::text FROM ticket_types WHERE event_id = CAST(:event AS uuid) UNION ALL"
        "  SELECT pr.id::text FROM pricing_rules pr JOIN ticket_types tt"
        "  ON tt.id = pr.ticket_type_id WHERE tt.event_id = CAST(:event AS uuid))",
    )
    for statement in statements:
        await session.execute(text(statement), params)


async def date_venues_and_customers(
    session: AsyncSession, venue_ids: list[uuid.UUID], opened: datetime
) -> None:
    """Venues opened at ``opened``; each customer created with their first reservation."""
    params = {"venues": venue_ids, "opened": opened}
    statements = (
        "UPDATE venues SET created_at = :opened, updated_at = :opened WHERE id = ANY(:venues)",
        "UPDATE audit_log SET created_at = :opened, updated_at = :opened"
        " WHERE entity_type = 'venue' AND entity_id IN (SELECT id::text FROM venues"
        " WHERE id = ANY(:venues))",
        "UPDATE customers c SET created_at = f.first, updated_at = f.first"
        " FROM (SELECT customer_id, min(created_at) AS first FROM reservations"
        " GROUP BY customer_id) f WHERE f.customer_id = c.id AND c.venue_id = ANY(:venues)",
        "UPDATE audit_log a SET created_at = c.created_at, updated_at = c.created_at"
        " FROM customers c WHERE a.entity_type = 'customer' AND a.entity_id = c.id::text"
        " AND a.action = 'create' AND c.venue_id = ANY(:venues)",
    )
    for statement in statements:
        await session.execute(text(statement), params)
