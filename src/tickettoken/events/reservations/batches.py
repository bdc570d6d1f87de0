"""Group commit for the fast path (a customer buying with nothing but their token, no
``Idempotency-Key``): the holds of one ticket type that arrive together in one process go to the
database as one batch.

Why: in a flash sale every hold updates the same ticket-type row, so one transaction per hold is
capped near pgbench's one-UPDATE-per-transaction rate. A batch costs two round trips for all of
its holds, on the driver (``driver_pool``) and without the ORM: (1) the sale context plus every
buyer's customer row (found or created, audited when created) in one autocommitted statement;
(2) ``inventory.service.hold`` for the whole batch (its own transaction: buyers locked, limits,
one conditional update of the hot row, reservations and their audit rows, commit).

Batches form by themselves: a hold that arrives while its ticket type's batch is at the database
waits for it and goes with the next one, so a lone request is never delayed and a busy process
sends as many holds per round trip as arrived meanwhile (at most ``MAX_BATCH``).

Same rules and outcomes as the general path (``rules``): the sales window and per-order limit
are checked per request before the batch; a batch is all or nothing, and when inventory refuses
it nothing of it is held and each of its requests is held alone, so a request is refused only for
its own reason and never partly served. A request for more than the sale context (read after it
arrived) shows left is refused as sold out at once: the answer a hold would have given at that
moment. Prices are locked per request (``rules.locked_unit_price``).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from tickettoken.events.audit.service import AuditContext, AuditRow
from tickettoken.events.inventory import service as inventory
from tickettoken.events.inventory.service import HoldOutcome, NewHold
from tickettoken.events.reservations.repository import SaleContext
from tickettoken.events.reservations.rules import (
    available,
    check_sales_window,
    locked_unit_price,
    refusal,
)
from tickettoken.events.reservations.schemas import ReservationCreate
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


@dataclass
class _Request:
    user_id: str
    quantity: int
    hold_seconds: int
    now: datetime
    result: asyncio.Future[dict[str, Any]]
    audit: AuditContext
    customer_id: uuid.UUID | None = None
    hold: NewHold | None = None


@dataclass
class _Queue:
    waiting: list[_Request] = field(default_factory=list)
    busy: bool = False


class HoldBatcher:
    """One per process: batches the fast path's holds per (event, ticket type)."""

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
                if waiter.quantity > available(sale):
                    # sold out when the sale context was read, after the request arrived: the
                    # refusal a hold would have given at that moment, without a round trip
                    _fail(waiter, refusal(HoldOutcome.SOLD_OUT, sale))
                else:
                    ready.append(waiter)
            if not ready:
                return
            total = sum(w.quantity for w in ready)
            batched = len(ready) > 1 and available(sale) >= total
            if batched and await _hold(connection, ready) is HoldOutcome.HELD:
                for waiter in ready:
                    _succeed(waiter, available(sale) <= total)
                return
            # alone, or the batch was refused (nothing held): each request on its own
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
            waiter.hold = NewHold(
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
        try:
            outcome = await _hold(connection, [waiter])
        except Exception as exc:
            _fail(waiter, exc)
            return
        if outcome is HoldOutcome.HELD:
            _succeed(waiter, available(sale) <= waiter.quantity)
        else:
            _fail(waiter, refusal(outcome, sale))


async def _hold(connection: asyncpg.Connection, waiters: list[_Request]) -> HoldOutcome:
    """Hold every one of ``waiters`` (same event and ticket type) or none, each audited as its
    request, in one transaction and one round trip."""
    held = [waiter.hold for waiter in waiters if waiter.hold is not None]
    audit = [
        AuditRow(w.audit, "create", "reservation", h.id, None, h.as_row())
        for w, h in zip(waiters, held, strict=True)
    ]
    return await inventory.hold(connection, held, MAX_TICKETS_PER_CUSTOMER_PER_EVENT, audit)


def _succeed(waiter: _Request, last_seats: bool) -> None:
    if waiter.result.done() or waiter.hold is None:
        return
    reservation = waiter.hold.as_row()
    reservation["last_seats"] = last_seats
    waiter.result.set_result(reservation)


def _fail(waiter: _Request, exc: BaseException) -> None:
    if not waiter.result.done():
        waiter.result.set_exception(exc)
