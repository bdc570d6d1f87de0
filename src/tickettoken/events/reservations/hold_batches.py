"""Group commit for the token-only path: the holds of one ticket type that arrive together in one
process go to the database as one batch.

Why: in a flash sale every hold updates the same ticket-type row, so one transaction per hold is
capped near pgbench's one-UPDATE-per-transaction rate, and each hold cost two round trips (and two
commits: the buyer's customer row, then the hold) of CPU in both Python and PostgreSQL. A batch
costs the same two round trips for all of its holds: (1) the sale context plus every buyer's
customer row (found or created) in one autocommitted statement; (2) ``BEGIN``, lock the buyers
(id order), check every buyer's limit, ONE conditional ``UPDATE`` of the hot row for the batch
total feeding the reservations' ``INSERT`` (``unnest``), re-read the event status, ``COMMIT``.

Batches form by themselves: a hold that arrives while its ticket type's batch is at the database
waits for it and goes with the next one, so a lone request is never delayed and a busy process
sends as many holds per round trip as arrived meanwhile (at most ``MAX_BATCH``).

Same rules and outcomes as one hold at a time (``token_only``): the sales window and per-order
limit are checked per request before the batch; a batch is all or nothing, and when it is refused
(not enough left for all of it, a buyer over the per-customer limit, the event no longer on sale)
nothing of it is held and each of its requests is retried alone with ``hold_tickets_in_own_
transaction``, so a request is refused only for its own reason and never partly served. A request
for more than the sale context (read after it arrived) shows left is refused as sold out at once:
the answer a hold would have given at that moment. Prices are
locked per request (``locked_unit_price``). Lock order as everywhere on the sales side: customer
rows (id order), then the ticket type, then the reservation rows (whose foreign keys take KEY SHARE
on the event after the ticket type, as in a single hold).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from tickettoken.events.audit.service import AuditContext, AuditRow, audit_rows_sql
from tickettoken.events.reservations import holds
from tickettoken.events.reservations.repository import SaleContext
from tickettoken.events.reservations.schemas import ReservationCreate
from tickettoken.events.reservations.service import (
    check_sales_window,
    hold_audit_sql,
    locked_unit_price,
    refusal,
)
from tickettoken.events.reservations.settings import MAX_TICKETS_PER_CUSTOMER_PER_EVENT
from tickettoken.kit.db import Database
from tickettoken.kit.errors import NotFound, ServiceUnavailable

MAX_BATCH = 64

_SALE_CONTEXT_AND_BUYERS = """
    WITH sale AS (
        SELECT tt.id, tt.event_id, e.venue_id, e.status, e.start_date, tt.price, tt.currency,
               tt.quantity, tt.sold, tt.reserved, tt.max_per_order, tt.sale_start, tt.sale_end,
               EXISTS (SELECT 1 FROM pricing_rules pr
                       WHERE pr.ticket_type_id = tt.id AND pr.active) AS has_pricing_rules
        FROM ticket_types tt JOIN events e ON e.id = tt.event_id
        WHERE tt.id = $1 AND tt.event_id = $2 AND e.deleted_at IS NULL
    ),
    buyers AS (
        INSERT INTO customers (venue_id, user_id)
        SELECT sale.venue_id, users.user_id FROM sale, unnest($3::text[]) AS users(user_id)
        ON CONFLICT (venue_id, user_id) WHERE user_id IS NOT NULL
        DO UPDATE SET user_id = EXCLUDED.user_id
        RETURNING customers.*, (xmax = 0) AS created
    ),
    created_audit AS (
        INSERT INTO audit_log (actor_id, actor_role, action, entity_type, entity_id, after,
                               request_id, ip)
        SELECT buyers.user_id, who.role, 'create', 'customer', buyers.id::text,
               to_jsonb(buyers) - 'created', who.request_id, who.ip::inet
        FROM buyers JOIN unnest($3::text[], $4::text[], $5::text[], $6::text[])
                         AS who(user_id, role, request_id, ip) ON who.user_id = buyers.user_id
        WHERE buyers.created
    )
    SELECT sale.*, (SELECT array_agg(buyers.id::text || buyers.user_id) FROM buyers) AS buyers
    FROM sale
"""

_BATCH_HOLD_AND_COMMIT = """
BEGIN;
SET LOCAL synchronous_commit = on;
SELECT 1 FROM customers WHERE id = ANY('{customer_set}'::uuid[]) ORDER BY id FOR UPDATE;
SELECT (CASE WHEN bool_and(coalesce(owned.quantity, 0) + asked.quantity <= {per_customer})
             THEN '1' ELSE 'customer_limit' END)::int
FROM (SELECT customer_id, sum(quantity) AS quantity
      FROM unnest('{customers}'::uuid[], '{quantities}'::int[]) AS x(customer_id, quantity)
      GROUP BY customer_id) asked
LEFT JOIN LATERAL (
    SELECT sum(r.quantity) AS quantity
    FROM reservations r LEFT JOIN orders o ON o.id = r.order_id
    WHERE r.customer_id = asked.customer_id AND r.event_id = '{event_id}'
      AND (r.status = 'held'
           OR (r.status = 'confirmed' AND o.status IN ('pending', 'paid', 'partially_refunded')))
) owned ON true;
{audit}WITH hold AS (
    UPDATE ticket_types SET reserved = reserved + {total_quantity}
    WHERE id = '{ticket_type_id}' AND sold + reserved + {total_quantity} <= quantity
    RETURNING id
)
INSERT INTO reservations (id, event_id, ticket_type_id, customer_id, quantity, unit_price, total,
                          currency, expires_at, created_at, updated_at)
SELECT x.id, '{event_id}', hold.id, x.customer_id, x.quantity, x.unit_price, x.total,
       '{currency}', x.expires_at, x.created_at, x.created_at
FROM hold, unnest('{ids}'::uuid[], '{customers}'::uuid[], '{quantities}'::int[],
                  '{unit_prices}'::numeric[], '{totals}'::numeric[],
                  '{expires}'::timestamptz[], '{created}'::timestamptz[])
     AS x(id, customer_id, quantity, unit_price, total, expires_at, created_at);
SELECT (CASE WHEN status = 'published' THEN '1' ELSE 'not_published' END)::int
FROM events WHERE id = '{event_id}';
SELECT (CASE WHEN EXISTS (SELECT 1 FROM reservations WHERE id = '{first_id}') THEN '1'
             ELSE 'sold_out' END)::int;
COMMIT;
"""


@dataclass
class _Request:
    user_id: str
    quantity: int
    hold_seconds: int
    now: datetime
    result: asyncio.Future[dict[str, Any]]
    audit: AuditContext
    customer_id: uuid.UUID | None = None
    hold: holds.NewHold | None = None


@dataclass
class _Queue:
    waiting: list[_Request] = field(default_factory=list)
    busy: bool = False


class HoldBatcher:
    """One per process: batches token-only holds per (event, ticket type)."""

    def __init__(self, pool: asyncpg.Pool, database: Database) -> None:
        self.pool = pool
        self.database = database
        self._queues: dict[tuple[uuid.UUID, uuid.UUID], _Queue] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def reserve(
        self,
        user_id: str,
        event_id: uuid.UUID,
        request: ReservationCreate,
        hold_seconds: int,
        audit: AuditContext,
    ) -> dict[str, Any]:
        """The committed reservation of ``user_id`` (raises the refusal otherwise), audited
        as ``audit`` (the request's actor, address and id) in the hold's transaction."""
        key = (event_id, request.ticket_type_id)
        queue = self._queues.setdefault(key, _Queue())
        waiter = _Request(
            user_id=user_id,
            quantity=request.quantity,
            hold_seconds=hold_seconds,
            now=datetime.now(UTC),
            result=asyncio.get_running_loop().create_future(),
            audit=audit,
        )
        queue.waiting.append(waiter)
        if not queue.busy:
            self._start(key, queue)
        # shield: a client that goes away does not cancel the batch its hold travels in
        return await asyncio.shield(waiter.result)

    def _start(self, key: tuple[uuid.UUID, uuid.UUID], queue: _Queue) -> None:
        queue.busy = True
        task = asyncio.create_task(self._drain(key, queue))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, key: tuple[uuid.UUID, uuid.UUID], queue: _Queue) -> None:
        try:
            while queue.waiting:
                batch, queue.waiting = queue.waiting[:MAX_BATCH], queue.waiting[MAX_BATCH:]
                try:
                    await self._run(key[0], key[1], batch)
                except Exception as exc:  # every waiter gets the failure (500/503), none hangs
                    for waiter in batch:
                        _fail(waiter, exc)
                except BaseException:  # cancelled (shutting down): nobody waits for ever
                    for waiter in batch:
                        _fail(waiter, ServiceUnavailable("The service is shutting down"))
                    raise
        finally:
            queue.busy = False
            for waiter in queue.waiting:  # left only when cancelled
                _fail(waiter, ServiceUnavailable("The service is shutting down"))
            queue.waiting = []
            self._queues.pop(key, None)

    async def _run(
        self, event_id: uuid.UUID, ticket_type_id: uuid.UUID, batch: list[_Request]
    ) -> None:
        try:
            connection = await self.pool.acquire()
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError) as exc:
            raise ServiceUnavailable("Database unavailable") from exc
        try:
            first_of_user = {w.user_id: w.audit for w in reversed(batch)}  # first one wins
            users = list(dict.fromkeys(waiter.user_id for waiter in batch))
            row = await connection.fetchrow(
                _SALE_CONTEXT_AND_BUYERS,
                ticket_type_id,
                event_id,
                users,
                [first_of_user[user].actor_role for user in users],
                [first_of_user[user].request_id for user in users],
                [first_of_user[user].ip for user in users],
            )
            if row is None:
                for waiter in batch:
                    _fail(waiter, NotFound("Ticket type not found"))
                return
            values = list(row.values())
            sale = SaleContext(*values[:-1])
            customers = {text[36:]: uuid.UUID(text[:36]) for text in values[-1]}
            ready = []
            for waiter in await self._prepare(sale, event_id, batch, customers):
                if waiter.quantity > _available(sale):
                    # sold out when the sale context was read, after the request arrived: the
                    # refusal a hold would have given at that moment, without a round trip
                    _fail(waiter, refusal("sold_out", sale))
                else:
                    ready.append(waiter)
            if not ready:
                return
            if len(ready) > 1 and _available(sale) >= sum(w.quantity for w in ready):
                try:
                    await _hold_batch(connection, ready)
                except holds.HoldRefused:
                    pass  # nothing held: each request on its own below
                else:
                    last_seats = _available(sale) <= sum(w.quantity for w in ready)
                    for waiter in ready:
                        _succeed(waiter, last_seats)
                    return
            for waiter in ready:
                await self._hold_alone(connection, sale, waiter)
        finally:
            await self.pool.release(connection)

    async def _prepare(
        self,
        sale: SaleContext,
        event_id: uuid.UUID,
        batch: list[_Request],
        customers: dict[str, uuid.UUID],
    ) -> list[_Request]:
        """Per-request checks and the locked price; the requests that go on to the hold."""
        ready = []
        for waiter in batch:
            try:
                check_sales_window(sale, waiter.quantity, waiter.now)
                if sale.has_pricing_rules:
                    async with self.database.transaction() as session:
                        price = await locked_unit_price(session, sale, waiter.quantity, waiter.now)
                else:
                    price = await locked_unit_price(None, sale, waiter.quantity, waiter.now)
            except Exception as exc:
                _fail(waiter, exc)
                continue
            waiter.customer_id = customers[waiter.user_id]
            waiter.hold = holds.NewHold(
                id=uuid.uuid4(),
                event_id=event_id,
                ticket_type_id=sale.ticket_type_id,
                customer_id=waiter.customer_id,
                quantity=waiter.quantity,
                unit_price=price,
                currency=sale.currency,
                created_at=waiter.now,
                expires_at=waiter.now + timedelta(seconds=waiter.hold_seconds),
            )
            ready.append(waiter)
        return ready

    async def _hold_alone(
        self, connection: asyncpg.Connection, sale: SaleContext, waiter: _Request
    ) -> None:
        assert waiter.hold is not None
        try:
            await holds.hold_tickets_in_own_transaction(
                connection,
                waiter.hold,
                MAX_TICKETS_PER_CUSTOMER_PER_EVENT,
                hold_audit_sql(waiter.audit, waiter.hold, new_customer=False),
            )
        except holds.HoldRefused as refused:
            _fail(waiter, refusal(refused.reason, sale))
        except Exception as exc:
            _fail(waiter, exc)
        else:
            _succeed(waiter, _available(sale) <= waiter.quantity)


async def _hold_batch(connection: asyncpg.Connection, waiters: list[_Request]) -> None:
    """Hold every one of ``waiters`` (same event and ticket type) or none, with their audit
    rows (one statement, before the hot row is locked): one round trip."""
    batch = [waiter.hold for waiter in waiters if waiter.hold is not None]
    audit = audit_rows_sql(
        [
            AuditRow(w.audit, "create", "reservation", h.id, None, h.as_row())
            for w, h in zip(waiters, batch, strict=True)
        ]
    )
    first = batch[0]
    for hold in batch:
        if (hold.event_id, hold.ticket_type_id, hold.currency) != (
            first.event_id,
            first.ticket_type_id,
            first.currency,
        ):
            raise ValueError("a batch holds one ticket type")
    if not (first.currency.isascii() and first.currency.isalpha() and len(first.currency) == 3):
        raise ValueError(f"unexpected currency code {first.currency!r}")
    sql = _BATCH_HOLD_AND_COMMIT.format(
        customer_set=_array(sorted({uuid.UUID(str(h.customer_id)) for h in batch})),
        customers=_array(uuid.UUID(str(h.customer_id)) for h in batch),
        quantities=_array(int(h.quantity) for h in batch),
        per_customer=int(MAX_TICKETS_PER_CUSTOMER_PER_EVENT),
        event_id=uuid.UUID(str(first.event_id)),
        ticket_type_id=uuid.UUID(str(first.ticket_type_id)),
        total_quantity=sum(int(h.quantity) for h in batch),
        currency=first.currency,
        ids=_array(uuid.UUID(str(h.id)) for h in batch),
        unit_prices=_array(Decimal(h.unit_price) for h in batch),
        totals=_array(Decimal(h.total) for h in batch),
        expires=_array(_timestamp(h.expires_at) for h in batch),
        created=_array(_timestamp(h.created_at) for h in batch),
        first_id=uuid.UUID(str(first.id)),
        audit=audit,
    )
    try:
        await connection.execute(sql)
    except asyncpg.InvalidTextRepresentationError as exc:
        reason = holds.refusal_reason(exc)
        if reason is None:
            raise
        raise holds.HoldRefused(reason) from exc
    finally:
        if connection.is_in_transaction():
            await connection.execute("ROLLBACK")


def _array(values: Any) -> str:
    """An array literal's body from typed values (UUIDs, ints, decimals, ISO timestamps)."""
    return "{" + ",".join(f'"{value}"' for value in values) + "}"


def _timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("timestamps of a hold are timezone-aware")
    return value.isoformat()


def _available(sale: SaleContext) -> int:
    return max(sale.quantity - sale.sold - sale.reserved, 0)


def _succeed(waiter: _Request, last_seats: bool) -> None:
    if waiter.result.done() or waiter.hold is None:
        return
    reservation = waiter.hold.as_row()
    reservation["last_seats"] = last_seats
    waiter.result.set_result(reservation)


def _fail(waiter: _Request, exc: BaseException) -> None:
    if not waiter.result.done():
        waiter.result.set_exception(exc)
