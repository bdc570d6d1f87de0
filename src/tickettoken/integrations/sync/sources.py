"""What a sync reads from the event service's tables, with SQL of our own (a service never imports
another service's package): events with their ticket types, and customers, changed after a
cursor, in pages: ordered by id, after the last id of the page before (``after``), at most
``limit`` rows (the engine expands a sync page by page so its first items are pushed while the
rest is still read)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Result, text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.integrations.sync.mapping import map_customer, map_product, map_transaction


def _dicts(result: Result[Any]) -> list[dict[str, Any]]:
    """Rows as dicts, the column names read once: ``dict(row)`` of each ``RowMapping`` builds
    its key view again per row (py-spy: most of the expansion's reading of 10,000 customers)."""
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


def _params(
    venue_id: uuid.UUID, since: datetime | None, after: str | None, limit: int | None
) -> dict[str, Any]:
    return {
        "venue": venue_id,
        "since": since,
        "after": uuid.UUID(after) if after else None,
        "limit": limit,
    }


CHANGED_EVENTS = text(
    """
    SELECT e.id, e.name, e.description FROM events e
    WHERE e.venue_id = :venue AND e.deleted_at IS NULL
      AND (CAST(:since AS timestamptz) IS NULL OR e.updated_at > :since OR EXISTS (
          SELECT 1 FROM ticket_types t WHERE t.event_id = e.id AND t.updated_at > :since))
      AND (CAST(:after AS uuid) IS NULL OR e.id > :after)
    ORDER BY e.id LIMIT :limit
    """
)
TICKET_TYPES = text(
    "SELECT id, event_id, name, price, currency FROM ticket_types"
    " WHERE event_id = ANY(CAST(:events AS uuid[])) ORDER BY id"
)
CHANGED_CUSTOMERS = text(
    """
    SELECT id, email, first_name, last_name, phone, marketing_consent FROM customers
    WHERE venue_id = :venue AND email IS NOT NULL
      AND (CAST(:since AS timestamptz) IS NULL OR updated_at > :since)
      AND (CAST(:after AS uuid) IS NULL OR id > :after)
    ORDER BY id LIMIT :limit
    """
)


async def changed_products(
    session: AsyncSession,
    venue_id: uuid.UUID,
    since: datetime | None,
    after: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    rows = _dicts(await session.execute(CHANGED_EVENTS, _params(venue_id, since, after, limit)))
    if not rows:
        return []
    found = await session.execute(TICKET_TYPES, {"events": [row["id"] for row in rows]})
    by_event: dict[Any, list[dict[str, Any]]] = {}
    for tt in _dicts(found):
        by_event.setdefault(tt["event_id"], []).append(tt)
    return [map_product(row, by_event.get(row["id"], [])) for row in rows]


async def changed_customers(
    session: AsyncSession,
    venue_id: uuid.UUID,
    since: datetime | None,
    after: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    found = await session.execute(CHANGED_CUSTOMERS, _params(venue_id, since, after, limit))
    return [map_customer(row) for row in _dicts(found)]


CHANGED_ORDERS = text(
    """
    SELECT o.id, o.customer_id, o.event_id, o.currency, o.total, o.status FROM orders o
    JOIN events e ON e.id = o.event_id
    WHERE e.venue_id = :venue
      AND (o.status IN ('paid', 'partially_refunded')
           OR (o.status = 'refunded' AND EXISTS (
               SELECT 1 FROM integration_synced_records r WHERE r.venue_id = :venue
                 AND r.entity_type = 'transactions' AND r.local_id = CAST(o.id AS text))))
      AND (CAST(:since AS timestamptz) IS NULL OR o.updated_at > :since)
      AND (CAST(:after AS uuid) IS NULL OR o.id > :after)
    ORDER BY o.id LIMIT :limit
    """
)
ORDER_ITEMS = text(
    "SELECT id, order_id, ticket_type_id, quantity, unit_price, subtotal FROM order_items"
    " WHERE order_id = ANY(CAST(:orders AS uuid[])) ORDER BY id"
)
# Refunds the payment provider confirmed (``order_refunds``, the event service's record).
ORDER_REFUNDS = text(
    "SELECT id, order_id, amount, confirmed_at FROM order_refunds"
    " WHERE order_id = ANY(CAST(:orders AS uuid[])) AND status = 'succeeded' ORDER BY id"
)


async def changed_transactions(
    session: AsyncSession,
    venue_id: uuid.UUID,
    since: datetime | None,
    after: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Paid orders of the venue's events, as invoices, with their confirmed refunds. A fully
    refunded order comes only once it was sent to a provider (its refunds are then recorded
    there); one refunded before any sync is not a sale to send."""
    orders = _dicts(await session.execute(CHANGED_ORDERS, _params(venue_id, since, after, limit)))
    if not orders:
        return []
    found = await session.execute(ORDER_ITEMS, {"orders": [o["id"] for o in orders]})
    by_order: dict[Any, list[dict[str, Any]]] = {}
    for item in _dicts(found):
        by_order.setdefault(item["order_id"], []).append(item)
    refunds: dict[Any, list[dict[str, Any]]] = {}
    found = await session.execute(ORDER_REFUNDS, {"orders": [o["id"] for o in orders]})
    for refund in _dicts(found):
        refunds.setdefault(refund["order_id"], []).append(refund)
    return [
        map_transaction(order, by_order.get(order["id"], []), refunds.get(order["id"], []))
        for order in orders
    ]
