"""Event capacity (``{total, sold, reserved, available}``) and the event's sales analytics.

Counts come from the ticket types' ``sold``/``reserved`` counters, which the sales side keeps in
the same transaction as reservations and orders (never from columns that do not exist).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.audit.service import entity_snapshot, record_audit
from tickettoken.events.cache import schedule_event_invalidation
from tickettoken.events.events import repository
from tickettoken.events.events.access import managed_event_stopping_sales, staff_event
from tickettoken.events.events.service import ensure_modifiable
from tickettoken.events.venues.service import find_venue
from tickettoken.kit.auth import Principal
from tickettoken.kit.errors import Conflict, ValidationFailed
from tickettoken.kit.kv import KeyValueStore
from tickettoken.kit.money import to_money


async def capacity_of(session: AsyncSession, event_id: uuid.UUID) -> dict[str, int]:
    """Read fresh from the database (not the session's identity map): the cache stores this."""
    total = await repository.event_capacity(session, event_id)
    totals = await repository.ticket_totals(session, event_id)
    taken = totals["sold"] + totals["reserved"]
    return {
        "total": total,
        "sold": totals["sold"],
        "reserved": totals["reserved"],
        "available": max(0, total - taken),
    }


async def change_capacity(
    session: AsyncSession,
    kv: KeyValueStore,
    principal: Principal,
    event_id: uuid.UUID,
    capacity: int,
    now: datetime,
) -> dict[str, int]:
    event = await managed_event_stopping_sales(session, principal, event_id)
    ensure_modifiable(event, now)
    totals = await repository.ticket_totals(session, event.id)
    if capacity < totals["sold"] + totals["reserved"]:
        raise Conflict(
            f"Capacity cannot go below sold + reserved ({totals['sold'] + totals['reserved']})"
        )
    if capacity < totals["quantity"]:
        raise Conflict(f"Ticket types of this event already hold {totals['quantity']} tickets")
    venue = await find_venue(session, event.venue_id)
    if venue is not None and capacity > venue.capacity:
        raise ValidationFailed(
            f"capacity exceeds the venue's capacity ({venue.capacity})",
            details=[{"field": "body.capacity", "message": "exceeds the venue's capacity"}],
        )
    before = entity_snapshot(event)
    event.capacity = capacity
    await session.flush()
    await record_audit(
        session, principal, "update", "event", event.id, before, entity_snapshot(event)
    )
    schedule_event_invalidation(session, kv, event.id)
    return await capacity_of(session, event.id)


async def event_analytics(
    session: AsyncSession, principal: Principal, event_id: uuid.UUID
) -> dict[str, Any]:
    event = await staff_event(session, principal, event_id)
    sales = await repository.event_sales(session, event.id)
    gross = Decimal(sales["gross_revenue"])
    refunded = Decimal(sales["refunded"])
    capacity = await capacity_of(session, event.id)
    types = await repository.ticket_type_sales(session, event.id)
    return {
        "event_id": str(event.id),
        "status": event.status,
        "capacity": capacity,
        "sell_through_percent": str(
            to_money(Decimal(capacity["sold"]) * 100 / Decimal(event.capacity))
        ),
        "orders": sales["orders"],
        "revenue": {
            "gross": str(to_money(gross)),
            "refunded": str(to_money(refunded)),
            "net": str(to_money(gross - refunded)),
        },
        "ticket_types": [
            {
                "id": str(row["id"]),
                "name": row["name"],
                "price": str(to_money(row["price"])),
                "quantity": row["quantity"],
                "sold": row["sold"],
                "reserved": row["reserved"],
                "available": row["quantity"] - row["sold"] - row["reserved"],
                "revenue": str(to_money(row["revenue"])),
            }
            for row in types
        ],
    }
