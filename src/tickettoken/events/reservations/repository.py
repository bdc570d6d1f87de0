"""Every query of reservations, in raw SQL (the sale path is the flash-sale hot path). The hold
and every change of the ticket-type counters are inventory's (``events.inventory.service``);
the statements here change reservation rows only, after the caller took inventory's locks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

COLUMNS = (
    "id, event_id, ticket_type_id, customer_id, quantity, status, unit_price, total, currency,"
    " expires_at, order_id, confirmed_at, released_at, created_at, updated_at"
)


@dataclass(frozen=True)
class SaleContext:
    """What a sale needs to know about a ticket type and its event."""

    ticket_type_id: uuid.UUID
    event_id: uuid.UUID
    venue_id: uuid.UUID
    event_status: str
    event_start: datetime
    price: Decimal
    currency: str
    quantity: int
    sold: int
    reserved: int
    max_per_order: int
    sale_start: datetime | None
    sale_end: datetime | None
    has_pricing_rules: bool


_SALE_CONTEXT_SQL = """
    SELECT tt.id, tt.event_id, e.venue_id, e.status, e.start_date, tt.price, tt.currency,
           tt.quantity, tt.sold, tt.reserved, tt.max_per_order, tt.sale_start, tt.sale_end,
           EXISTS (SELECT 1 FROM pricing_rules pr WHERE pr.ticket_type_id = tt.id AND pr.active)
               AS has_pricing_rules
    FROM ticket_types tt JOIN events e ON e.id = tt.event_id
    WHERE tt.id = :ticket_type_id AND tt.event_id = :event_id AND e.deleted_at IS NULL
"""
_SALE_CONTEXT = text(_SALE_CONTEXT_SQL)

# The sale context and the user's customer row of the venue (found or created, and locked) in
# one round trip: the common case of a customer buying with nothing but their token.
_SALE_CONTEXT_AND_USER_CUSTOMER = text(
    f"""
    WITH sale AS ({_SALE_CONTEXT_SQL}),
    buyer AS (
        INSERT INTO customers (venue_id, user_id) SELECT venue_id, :user_id FROM sale
        ON CONFLICT (venue_id, user_id) WHERE user_id IS NOT NULL
        DO UPDATE SET user_id = EXCLUDED.user_id
        RETURNING id
    )
    SELECT sale.*, (SELECT id FROM buyer) AS customer_id FROM sale
    """
)
_EVENT_STATUS = text("SELECT status FROM events WHERE id = :event_id")

_GET = text(f"SELECT {COLUMNS} FROM reservations WHERE id = :id")
_GET_WITH_VENUE = text(
    f"""
    SELECT r.{COLUMNS.replace(", ", ", r.")}, e.venue_id, c.user_id AS customer_user_id
    FROM reservations r JOIN events e ON e.id = r.event_id JOIN customers c ON c.id = r.customer_id
    WHERE r.id = :id
    """
)
_LOCK = text(f"SELECT {COLUMNS} FROM reservations WHERE id = :id FOR UPDATE")

_CONFIRM = text(
    "UPDATE reservations SET status = 'confirmed', confirmed_at = now(), order_id = :order_id"
    " WHERE id = :id AND status = 'held'"
)

_RELEASE = text(
    f"""
    UPDATE reservations SET status = :status, released_at = now()
    WHERE id = :id AND status = 'held'
    RETURNING {COLUMNS}
    """
)

_EXPIRED_CANDIDATES = text(
    """
    SELECT id, ticket_type_id FROM reservations
    WHERE status = 'held' AND expires_at <= now()
    ORDER BY expires_at LIMIT :batch
    """
)

_CLAIM_EXPIRED = text(
    """
    UPDATE reservations r SET status = 'expired', released_at = now()
    WHERE r.id IN (
        SELECT id FROM reservations
        WHERE id = ANY(:ids) AND status = 'held' AND expires_at <= now()
        FOR UPDATE SKIP LOCKED
    )
    RETURNING r.ticket_type_id, r.quantity, r.event_id, r.id
    """
)

_HOLDS_OF_EVENT = text(
    """
    UPDATE reservations SET status = 'released', released_at = now()
    WHERE event_id = :event_id AND status = 'held'
    RETURNING ticket_type_id, quantity, id
    """
)


async def load_sale_context_and_user_customer(
    session: AsyncSession, event_id: uuid.UUID, ticket_type_id: uuid.UUID, user_id: str
) -> tuple[SaleContext, uuid.UUID] | None:
    """The sale context and the locked customer row of ``user_id`` at the event's venue."""
    params = {"event_id": event_id, "ticket_type_id": ticket_type_id, "user_id": user_id}
    row = (await session.execute(_SALE_CONTEXT_AND_USER_CUSTOMER, params)).first()
    return (SaleContext(*row[:-1]), row[-1]) if row else None


async def load_sale_context(
    session: AsyncSession, event_id: uuid.UUID, ticket_type_id: uuid.UUID
) -> SaleContext | None:
    row = (
        await session.execute(
            _SALE_CONTEXT, {"event_id": event_id, "ticket_type_id": ticket_type_id}
        )
    ).first()
    return SaleContext(*row) if row else None


async def get_reservation_with_owner(
    session: AsyncSession, reservation_id: uuid.UUID
) -> dict[str, Any] | None:
    """The reservation plus ``venue_id`` and ``customer_user_id`` for authorization."""
    row = (await session.execute(_GET_WITH_VENUE, {"id": reservation_id})).first()
    return dict(row._mapping) if row else None


async def get_reservation(
    session: AsyncSession, reservation_id: uuid.UUID
) -> dict[str, Any] | None:
    row = (await session.execute(_GET, {"id": reservation_id})).first()
    return dict(row._mapping) if row else None


async def lock_reservation(
    session: AsyncSession, reservation_id: uuid.UUID
) -> dict[str, Any] | None:
    row = (await session.execute(_LOCK, {"id": reservation_id})).first()
    return dict(row._mapping) if row else None


async def mark_confirmed(
    session: AsyncSession, reservation_id: uuid.UUID, order_id: uuid.UUID
) -> None:
    await session.execute(_CONFIRM, {"id": reservation_id, "order_id": order_id})


async def mark_released(
    session: AsyncSession, reservation_id: uuid.UUID, status: str = "released"
) -> dict[str, Any] | None:
    """Mark a held reservation released; None if it was not held (its ticket type locked by the
    caller, who gives its quantity back to inventory)."""
    row = (await session.execute(_RELEASE, {"id": reservation_id, "status": status})).first()
    return dict(row._mapping) if row else None


@dataclass(frozen=True)
class ExpiredHolds:
    candidates: int
    released: int
    quantities: dict[uuid.UUID, int]
    event_ids: set[uuid.UUID]
    reservation_ids: list[uuid.UUID]


async def expired_candidates(
    session: AsyncSession, batch: int
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(reservation, ticket type) of up to ``batch`` expired holds, not locked yet."""
    rows = (await session.execute(_EXPIRED_CANDIDATES, {"batch": batch})).all()
    return [(row[0], row[1]) for row in rows]


async def claim_expired(
    session: AsyncSession, reservation_ids: list[uuid.UUID]
) -> list[tuple[uuid.UUID, int, uuid.UUID, uuid.UUID]]:
    """Mark those of the candidates still held and expired as expired (``SKIP LOCKED``: another
    sweeper's are left to it); (ticket type, quantity, event, reservation) of each."""
    rows = (await session.execute(_CLAIM_EXPIRED, {"ids": reservation_ids})).all()
    return [(row[0], int(row[1]), row[2], row[3]) for row in rows]


async def release_holds_of_event(
    session: AsyncSession, event_id: uuid.UUID
) -> list[tuple[uuid.UUID, int, uuid.UUID]]:
    """Mark every hold of the event released; (ticket type, quantity, reservation) of each."""
    rows = (await session.execute(_HOLDS_OF_EVENT, {"event_id": event_id})).all()
    return [(row[0], int(row[1]), row[2]) for row in rows]
