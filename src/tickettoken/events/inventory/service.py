"""Every write of ``ticket_types.sold/reserved``, the one lock order, and the hold.

The lock order (every transaction that writes the counters takes its locks in it, so none can
deadlock with another):

1. customer rows, in id order (a hold locks its buyers, so one customer's sales run one after the
   other and the per-customer limit sees every earlier sale);
2. ticket-type rows, in id order (``lock_ticket_types``, ``lock_event_ticket_types``; the hold's
   conditional ``UPDATE`` takes its one row here);
3. the event row (``FOR UPDATE`` by the catalogue; ``KEY SHARE`` by the foreign keys of a new
   reservation or order, which is why a reservation is inserted after the ticket type is locked:
   taken first, it deadlocked with a cancellation, which locks ticket types then the event);
4. reservation, order and refund rows.

The hold is the server-side function ``tickettoken_inventory_hold`` (migrations 0010, 0012):
one bind-parameterised statement that locks the buyers, checks the per-customer limit, writes the
audit rows, takes the quantity if it is left, re-checks that the event is on sale, inserts the
reservations, and returns the outcome as a value (``HoldOutcome``; a refusal removes the audit
rows it wrote). Outside a transaction it is its
own transaction, so the hot ticket-type row stays locked for the function and its commit only,
not for a round trip of the client (measured: bench/RESULTS.md).

A box-office sale (``sell_at_box_office``: seats sold by the venue's own point of sale, reported
by Square) takes the ticket-type row at step 2 and moves it straight to ``sold`` only if
``sold + reserved + quantity <= quantity``; otherwise nothing changes and the caller records the
conflict. It never takes seats a hold has reserved. A box-office return
(``return_from_box_office``: a Square refund or cancellation that put the seats back in stock)
gives back no more than the venue's box-office sales of that ticket type took.
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.audit.service import AuditRow


class HoldOutcome(enum.Enum):
    """What the hold did: ``HELD``, or why nothing was held."""

    HELD = "held"
    SOLD_OUT = "sold_out"
    CUSTOMER_LIMIT = "customer_limit"
    NOT_PUBLISHED = "not_published"


@dataclass(frozen=True)
class NewHold:
    """Every value of a reservation about to be held (decided before the round trip)."""

    id: uuid.UUID
    event_id: uuid.UUID
    ticket_type_id: uuid.UUID
    customer_id: uuid.UUID
    quantity: int
    unit_price: Decimal
    currency: str
    created_at: datetime
    expires_at: datetime

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity

    def as_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "ticket_type_id": self.ticket_type_id,
            "customer_id": self.customer_id,
            "quantity": self.quantity,
            "status": "held",
            "unit_price": self.unit_price,
            "total": self.total,
            "currency": self.currency,
            "expires_at": self.expires_at,
            "order_id": None,
            "confirmed_at": None,
            "released_at": None,
            "created_at": self.created_at,
            "updated_at": self.created_at,
        }


_HOLD = (
    "SELECT tickettoken_inventory_hold($1, $2, $3, $4, $5::uuid[], $6::uuid[], $7::int[],"
    " $8::numeric[], $9::timestamptz[], $10::timestamptz[], $11)"
)


async def hold(
    connection: asyncpg.Connection,
    holds: Sequence[NewHold],
    per_customer: int,
    audit: Sequence[AuditRow] = (),
) -> HoldOutcome:
    """Hold all of ``holds`` (one event and ticket type) or none, with ``audit`` rows.

    On a connection outside a transaction this is the whole transaction (one round trip, the
    group commit of the fast path); inside one (``hold_in_session``) it is part of it, and a
    refusal leaves nothing to undo but the caller's own writes."""
    first = holds[0]
    if any((h.event_id, h.ticket_type_id) != (first.event_id, first.ticket_type_id) for h in holds):
        raise ValueError("one hold call takes one ticket type")
    outcome = await connection.fetchval(
        _HOLD,
        first.event_id,
        first.ticket_type_id,
        first.currency,
        per_customer,
        [h.id for h in holds],
        [h.customer_id for h in holds],
        [h.quantity for h in holds],
        [h.unit_price for h in holds],
        [h.expires_at for h in holds],
        [h.created_at for h in holds],
        json.dumps([row.values() for row in audit]),
    )
    return HoldOutcome(outcome)


async def hold_in_session(
    session: AsyncSession,
    holds: Sequence[NewHold],
    per_customer: int,
    audit: Sequence[AuditRow] = (),
) -> HoldOutcome:
    """``hold`` in the session's transaction (the general path: the buyer was resolved and the
    idempotent answer stored in it); the owner commits, or rolls back after a refusal."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    if not driver.is_in_transaction():
        raise RuntimeError("hold_in_session needs the session's transaction")
    return await hold(driver, holds, per_customer, audit)


_LOCK_TICKET_TYPES = text("SELECT id FROM ticket_types WHERE id = ANY(:ids) ORDER BY id FOR UPDATE")
_LOCK_EVENT_TICKET_TYPES = text(
    "SELECT id FROM ticket_types WHERE event_id = :event_id ORDER BY id FOR UPDATE"
)
_RETURN_RESERVED = text(
    "UPDATE ticket_types SET reserved = reserved - :quantity WHERE id = :ticket_type_id"
)
_RESERVED_TO_SOLD = text(
    "UPDATE ticket_types SET reserved = reserved - :quantity, sold = sold + :quantity"
    " WHERE id = :ticket_type_id"
)


async def lock_ticket_types(session: AsyncSession, ticket_type_ids: Iterable[uuid.UUID]) -> None:
    """Step 2 of the lock order for some ticket types (before their reservations or orders)."""
    ids = sorted(set(ticket_type_ids))
    if ids:
        await session.execute(_LOCK_TICKET_TYPES, {"ids": ids})


async def lock_event_ticket_types(session: AsyncSession, event_id: uuid.UUID) -> None:
    """Step 2 for every ticket type of an event (cancel, delete, capacity: before the event row),
    waiting for the holds in flight and making the holds after it see the change."""
    await session.execute(_LOCK_EVENT_TICKET_TYPES, {"event_id": event_id})


def per_ticket_type(pairs: Iterable[tuple[uuid.UUID, int]]) -> dict[uuid.UUID, int]:
    """Quantities summed per ticket type from (ticket type, quantity) pairs."""
    totals: dict[uuid.UUID, int] = {}
    for ticket_type_id, quantity in pairs:
        totals[ticket_type_id] = totals.get(ticket_type_id, 0) + int(quantity)
    return totals


async def return_reserved(session: AsyncSession, quantities: Mapping[uuid.UUID, int]) -> None:
    """Give held quantities back to sale (released, expired or cancelled before payment), in
    ticket-type id order."""
    await _apply(session, _RETURN_RESERVED, quantities)


async def move_reserved_to_sold(session: AsyncSession, quantities: Mapping[uuid.UUID, int]) -> None:
    """A paid order's quantities stop being held and count as sold, in ticket-type id order."""
    await _apply(session, _RESERVED_TO_SOLD, quantities)


async def _apply(
    session: AsyncSession, statement: Any, quantities: Mapping[uuid.UUID, int]
) -> None:
    for ticket_type_id in sorted(quantities):
        if quantities[ticket_type_id]:
            await session.execute(
                statement,
                {"ticket_type_id": ticket_type_id, "quantity": quantities[ticket_type_id]},
            )


@dataclass(frozen=True)
class BoxOfficeOutcome:
    """What ``sell_at_box_office`` did: ``taken``, and the counters after it (unchanged when not
    taken), so a conflict can be recorded with the numbers that caused it."""

    taken: bool
    quantity: int
    sold: int
    reserved: int

    @property
    def available(self) -> int:
        return self.quantity - self.sold - self.reserved


_LOCK_FOR_SALE = text(
    "SELECT quantity, sold, reserved FROM ticket_types WHERE id = :ticket_type_id FOR UPDATE"
)
_SELL = text(
    "UPDATE ticket_types SET sold = sold + :quantity, updated_at = now()"
    " WHERE id = :ticket_type_id AND sold + reserved + :quantity <= quantity"
    " RETURNING quantity, sold, reserved"
)


async def sell_at_box_office(
    session: AsyncSession, ticket_type_id: uuid.UUID, quantity: int
) -> BoxOfficeOutcome | None:
    """Seats sold at the box office become ``sold`` if that many are left; ``None`` when the
    ticket type does not exist. Step 2 of the lock order (the caller has taken no ticket-type,
    event or sale row before it); the caller's transaction commits."""
    if quantity <= 0:
        raise ValueError("a box-office sale takes at least one seat")
    row = (await session.execute(_LOCK_FOR_SALE, {"ticket_type_id": ticket_type_id})).first()
    if row is None:
        return None
    if row.sold + row.reserved + quantity > row.quantity:
        return BoxOfficeOutcome(False, row.quantity, row.sold, row.reserved)
    sold = (
        await session.execute(_SELL, {"ticket_type_id": ticket_type_id, "quantity": quantity})
    ).one()
    return BoxOfficeOutcome(True, sold.quantity, sold.sold, sold.reserved)


_GIVE_BACK = text(
    "UPDATE ticket_types SET sold = sold - :quantity, updated_at = now()"
    " WHERE id = :ticket_type_id AND sold >= :quantity RETURNING quantity, sold, reserved"
)


async def return_from_box_office(
    session: AsyncSession, ticket_type_id: uuid.UUID, quantity: int
) -> BoxOfficeOutcome | None:
    """Seats a box-office sale took, given back to sale (``sold -= quantity``); the caller has
    locked the ticket type (step 2) and checked that its box-office sales took at least that many.
    ``None`` when the ticket type does not exist; ``taken`` False if ``sold`` is lower (never
    negative)."""
    if quantity <= 0:
        raise ValueError("a box-office return gives back at least one seat")
    row = (
        await session.execute(_GIVE_BACK, {"ticket_type_id": ticket_type_id, "quantity": quantity})
    ).first()
    if row is None:
        current = (
            await session.execute(_LOCK_FOR_SALE, {"ticket_type_id": ticket_type_id})
        ).first()
        if current is None:
            return None
        return BoxOfficeOutcome(False, current.quantity, current.sold, current.reserved)
    return BoxOfficeOutcome(True, row.quantity, row.sold, row.reserved)
