"""The hold: take tickets from a ticket type and store the reservation, never overselling.

One conditional statement, ``UPDATE ticket_types SET reserved = reserved + q WHERE id = ... AND
sold + reserved + q <= quantity``, feeds the reservation ``INSERT`` in a CTE; the hot ticket-type
row is locked for that statement and the COMMIT sent in the same round trip, nothing else.
``sum(sold + reserved) <= capacity`` per event follows from the ticket-type rows, because the sum
of an event's ticket-type quantities never exceeds its capacity (the ticket-type and capacity
services refuse it). The database's CHECK ``sold + reserved <= quantity`` backs it up.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

# Outcomes of the hold round trip, raised by PostgreSQL as casts of a marker word to integer.
HOLD_REFUSALS = ("customer_limit", "not_published", "sold_out")
_REFUSAL_PATTERN = re.compile(r'"(' + "|".join(HOLD_REFUSALS) + r')"')

_HOLD_AND_COMMIT = """
SELECT (CASE WHEN coalesce(sum(r.quantity), 0) + {quantity} <= {per_customer} THEN '1'
             ELSE 'customer_limit' END)::int
FROM reservations r LEFT JOIN orders o ON o.id = r.order_id
WHERE r.customer_id = '{customer_id}' AND r.event_id = '{event_id}'
  AND (r.status = 'held'
       OR (r.status = 'confirmed' AND o.status IN ('pending', 'paid', 'partially_refunded')));
WITH hold AS (
    UPDATE ticket_types SET reserved = reserved + {quantity}
    WHERE id = '{ticket_type_id}' AND sold + reserved + {quantity} <= quantity
    RETURNING id
)
INSERT INTO reservations (id, event_id, ticket_type_id, customer_id, quantity, unit_price, total,
                          currency, expires_at, created_at, updated_at)
SELECT '{reservation_id}', '{event_id}', hold.id, '{customer_id}', {quantity}, {unit_price},
       {total}, '{currency}', '{expires_at}', '{created_at}', '{created_at}'
FROM hold;
SELECT (CASE WHEN status = 'published' THEN '1' ELSE 'not_published' END)::int
FROM events WHERE id = '{event_id}';
SELECT (CASE WHEN EXISTS (SELECT 1 FROM reservations WHERE id = '{reservation_id}') THEN '1'
             ELSE 'sold_out' END)::int;
COMMIT;
"""


class HoldRefused(Exception):
    """The hold was refused (nothing was held): ``reason`` is one of ``HOLD_REFUSALS``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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


async def hold_tickets_and_commit(
    session: AsyncSession, hold: NewHold, per_customer: int, audit_sql: str = ""
) -> None:
    """Hold the tickets and COMMIT the request's transaction in one round trip.

    Why this one place commits itself: every sale of a ticket type updates the same row, so the
    row lock is the throughput limit, and a lock held until a separate COMMIT arrives lasts as
    long as the Python event loop takes to get back to this request (several milliseconds under
    load, measured: most backends then wait on the lock; see bench/RESULTS.md). Sent as one
    multi-statement query, the lock lasts the statement and the commit, as in pgbench. The
    statements (simple query protocol, so no bind parameters) contain only values typed here
    (UUIDs, integers, decimals, timestamps, a currency code checked to be 3 letters), never
    client text. In order: the buyer's tickets for the event stay within ``per_customer`` (the
    buyer row is already locked, so this statement sees every earlier sale to them), take the
    quantity if it is left, check the event is still on sale now that the ticket type is locked
    (a cancellation locks ticket types first), check the hold exists, COMMIT. The reservation is
    inserted after the ticket type is locked, never before: its foreign keys take KEY SHARE locks
    on the event and ticket type rows, and taken first they deadlock with a cancellation, which
    locks ticket types and then the event FOR UPDATE (found by 4a's concurrency test). A failed
    check raises ``HoldRefused`` and leaves the transaction to be rolled back by its owner;
    after success, the owner's own COMMIT is a no-op. ``audit_sql`` (the hold's audit rows,
    ``audit.service.audit_rows_sql``) runs first, before the hot row is locked, so it commits
    with the hold without lengthening the lock.
    """
    connection = await _driver_connection(session)
    if not connection.is_in_transaction():
        raise RuntimeError("the hold must run inside the request transaction")
    await _run_hold(connection, audit_sql + hold_sql(hold, per_customer))


async def hold_tickets_in_own_transaction(
    connection: asyncpg.Connection, hold: NewHold, per_customer: int, audit_sql: str = ""
) -> None:
    """The same hold on a connection outside any transaction: BEGIN, lock the buyer, write the
    audit rows, hold, COMMIT, all in one round trip (``reserve_with_token_only``), committed
    synchronously even on the sales pool's connections, whose default is asynchronous commit
    (``driver_pool``)."""
    sql = "BEGIN;\nSET LOCAL synchronous_commit = on;\n"  # durable, whatever the pool's default
    sql += f"SELECT 1 FROM customers WHERE id = '{uuid.UUID(str(hold.customer_id))}'"
    sql += f" FOR UPDATE;\n{audit_sql}{hold_sql(hold, per_customer)}"
    try:
        await _run_hold(connection, sql)
    finally:
        if connection.is_in_transaction():
            await connection.execute("ROLLBACK")


def hold_sql(hold: NewHold, per_customer: int) -> str:
    """The statements of a hold, from typed values only (see ``hold_tickets_and_commit``)."""
    if not (hold.currency.isascii() and hold.currency.isalpha() and len(hold.currency) == 3):
        raise ValueError(f"unexpected currency code {hold.currency!r}")
    return _HOLD_AND_COMMIT.format(
        reservation_id=uuid.UUID(str(hold.id)),
        event_id=uuid.UUID(str(hold.event_id)),
        ticket_type_id=uuid.UUID(str(hold.ticket_type_id)),
        customer_id=uuid.UUID(str(hold.customer_id)),
        quantity=int(hold.quantity),
        per_customer=int(per_customer),
        unit_price=Decimal(hold.unit_price),
        total=Decimal(hold.total),
        currency=hold.currency,
        expires_at=hold.expires_at.isoformat(),
        created_at=hold.created_at.isoformat(),
    )


async def _run_hold(connection: asyncpg.Connection, sql: str) -> None:
    try:
        await connection.execute(sql)
    except asyncpg.InvalidTextRepresentationError as exc:
        reason = refusal_reason(exc)
        if reason is None:
            raise
        raise HoldRefused(reason) from exc


def refusal_reason(exc: asyncpg.InvalidTextRepresentationError) -> str | None:
    """The refusal a hold's marker cast raised (one of ``HOLD_REFUSALS``), None for any other."""
    match = _REFUSAL_PATTERN.search(str(exc))
    return match.group(1) if match else None


async def _driver_connection(session: AsyncSession) -> asyncpg.Connection:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    return driver
