"""The background release of expired holds (no request needed), one loop per service instance.

Each pass expires holds in batches: ticket types locked in id order, holds claimed with
``FOR UPDATE SKIP LOCKED``, so any number of instances sweep side by side without releasing a
hold twice or deadlocking with each other or with a cancellation. The same loop cancels
confirmed orders whose payment never arrived within the hold plus the payment grace.
After each commit the events' caches are invalidated and their sold-out status re-synced.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import structlog
from fastapi import FastAPI

from tickettoken.events.audit.service import AuditRow, record_audits, system_context
from tickettoken.events.cache import invalidate_event
from tickettoken.events.events.service import sync_sold_out_status
from tickettoken.events.reservations import service
from tickettoken.events.reservations.driver_pool import close_driver_pool, open_driver_pool
from tickettoken.events.reservations.settings import SalesSettings, get_sales_settings
from tickettoken.kit.db import Database
from tickettoken.kit.faults import database_unreachable
from tickettoken.kit.kv import KeyValueStore
from tickettoken.kit.periodic import Periodic

log = structlog.get_logger(__name__)

SWEEP_BATCH = 500
SWEEPER = system_context("hold-sweeper")
HELD, EXPIRED = {"status": "held"}, {"status": "expired"}
UnpaidOrderSweep = Callable[[Database, int], Awaitable[set[uuid.UUID]]]


def sales_settings(app: FastAPI) -> SalesSettings:
    configured = getattr(app.state, "sales_settings", None)
    if isinstance(configured, SalesSettings):
        return configured
    loaded = get_sales_settings()
    app.state.sales_settings = loaded
    return loaded


async def refresh_events(
    database: Database, kv: KeyValueStore | None, event_ids: set[uuid.UUID]
) -> None:
    """After counts changed and committed: sold-out status and caches of each event."""
    for event_id in sorted(event_ids):
        if kv is not None:
            async with database.transaction() as session:
                await sync_sold_out_status(session, kv, event_id)
            await invalidate_event(kv, event_id)


async def sweep_expired_holds(
    database: Database, kv: KeyValueStore | None = None, batch: int = SWEEP_BATCH
) -> int:
    """Release every hold that has expired; the number of reservations released."""
    released = 0
    while True:
        async with database.transaction() as session:
            expired = await service.expire_holds(session, batch)
            await record_audits(
                session,
                [
                    AuditRow(SWEEPER, "expire", "reservation", reservation_id, HELD, EXPIRED)
                    for reservation_id in expired.reservation_ids
                ],
            )
        released += expired.released
        await refresh_events(database, kv, expired.event_ids)
        if expired.candidates < batch:
            return released


async def _sweep_round(app: FastAPI, cancel_unpaid_orders: UnpaidOrderSweep) -> None:
    released = await sweep_expired_holds(app.state.database, app.state.kv)
    if released:
        log.info("expired_holds_released", reservations=released)
    grace = sales_settings(app).payment_grace_seconds
    events = await cancel_unpaid_orders(app.state.database, grace)
    await refresh_events(app.state.database, app.state.kv, events)


async def start_hold_sweeper(app: FastAPI, cancel_unpaid_orders: UnpaidOrderSweep) -> None:
    """Start-up hook of the sales side: the driver pool of the fast path, the sweeper.
    ``cancel_unpaid_orders`` is the orders domain's (handed in by ``services.py``: orders
    depend on reservations, never the other way round)."""
    settings = sales_settings(app)
    await open_driver_pool(app)
    app.state.hold_sweeper = Periodic(
        "hold-sweeper",
        lambda: _sweep_round(app, cancel_unpaid_orders),
        settings.sweep_interval_seconds,
        expected=database_unreachable,  # one line per round; the next round retries
    )
    app.state.hold_sweeper.start()


async def stop_hold_sweeper(app: FastAPI) -> None:
    sweeper: Periodic | None = getattr(app.state, "hold_sweeper", None)
    if sweeper is not None:
        await sweeper.stop()
    await close_driver_pool(app)
