"""The scheduled sync of each connection (SPEC 5.3: it honours ``next_sync_at``): a round every
``integration_sync_schedule_seconds`` (30 s) beside the integration service's routes enqueues a
sync for each connected integration whose ``next_sync_at`` has passed, and moves
``next_sync_at`` on by the connection's interval.

Every instance runs the round; one claims each due connection. The claim is one conditional
``UPDATE ... RETURNING`` over the due rows taken ``FOR UPDATE SKIP LOCKED``: a second scheduler
either skips a row the first holds, or (having read it before the first committed) finds it no
longer due when PostgreSQL re-checks the condition on the updated row. The claim, the sync's
log row and its job commit in one transaction, so a crash between them loses nothing and
enqueues nothing twice.

A connection never scheduled (``next_sync_at`` NULL) is due one interval after it connected;
a webhook that names a provider change makes it due now (webhooks/effects.mark_for_sync).
Its ``config`` may hold ``sync_interval_minutes`` (5 to 10,080; default 60), ``sync_type``
(default ``full``) and ``sync_direction`` (default ``bidirectional``: customers come back,
the rest is pushed). A connection whose last sync still runs is skipped this time (its next
time has moved on).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import structlog
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.integrations.sync.service import queue_sync
from tickettoken.kit.db import Database
from tickettoken.kit.errors import Conflict
from tickettoken.kit.faults import database_unreachable
from tickettoken.kit.periodic import Periodic

log = structlog.get_logger(__name__)

FIRST_ROUND_AFTER_SECONDS = 5.0
CLAIM_BATCH = 100
SYNC_TYPES = ("products", "customers", "transactions", "full")
DIRECTIONS = ("to_provider", "from_provider", "bidirectional")

_INTERVAL_MINUTES = (
    "LEAST(GREATEST(COALESCE(CASE WHEN c.config ->> 'sync_interval_minutes' ~ '^[0-9]{1,6}$'"
    " THEN CAST(c.config ->> 'sync_interval_minutes' AS integer) END, 60), 5), 10080)"
)
_CLAIM_DUE = text(
    f"""
    WITH due AS (
        SELECT c.id FROM integration_configs c
        WHERE c.status = 'connected'
          AND COALESCE(c.next_sync_at, c.connected_at + make_interval(mins => {_INTERVAL_MINUTES}))
              <= now()
        ORDER BY c.next_sync_at NULLS LAST, c.id
        LIMIT :batch
        FOR UPDATE SKIP LOCKED
    )
    UPDATE integration_configs c
    SET next_sync_at = now() + make_interval(mins => {_INTERVAL_MINUTES}), updated_at = now()
    FROM due
    WHERE c.id = due.id AND c.status = 'connected'
      AND COALESCE(c.next_sync_at, c.connected_at + make_interval(mins => {_INTERVAL_MINUTES}))
          <= now()
    RETURNING c.venue_id, c.integration_type, c.config, c.next_sync_at
    """
)


@dataclass(frozen=True)
class Scheduled:
    venue_id: uuid.UUID
    provider: str
    sync_id: uuid.UUID | None  # None: skipped (a sync of the connection still runs)


def _choice(config: object, key: str, allowed: tuple[str, ...], default: str) -> str:
    value = config.get(key) if isinstance(config, dict) else None
    return value if isinstance(value, str) and value in allowed else default


async def claim_and_enqueue(session: AsyncSession) -> list[Scheduled]:
    """Claim the due connections and enqueue their syncs, in the caller's transaction."""
    rows = (await session.execute(_CLAIM_DUE, {"batch": CLAIM_BATCH})).all()
    done = []
    for row in rows:
        sync_type = _choice(row.config, "sync_type", SYNC_TYPES, "full")
        direction = _choice(row.config, "sync_direction", DIRECTIONS, "bidirectional")
        try:
            async with session.begin_nested():
                started = await queue_sync(
                    session,
                    row.venue_id,
                    row.integration_type,
                    sync_type,
                    direction,
                    {"scheduled": True},
                )
        except Conflict:
            done.append(Scheduled(row.venue_id, row.integration_type, None))
            continue
        done.append(Scheduled(row.venue_id, row.integration_type, started.sync_id))
    return done


async def schedule_due(database: Database) -> list[Scheduled]:
    """One round: every due connection claimed (in batches) and its sync enqueued."""
    scheduled: list[Scheduled] = []
    while True:
        async with database.transaction() as session:
            batch = await claim_and_enqueue(session)
        scheduled += batch
        for item in batch:
            log.info(
                "scheduled_sync",
                venue_id=str(item.venue_id),
                provider=item.provider,
                sync_id=str(item.sync_id) if item.sync_id else None,
                skipped=item.sync_id is None,
            )
        if len(batch) < CLAIM_BATCH:
            return scheduled


async def start_sync_scheduler(app: FastAPI) -> None:
    database = getattr(app.state, "database", None)
    every = float(getattr(app.state.settings, "integration_sync_schedule_seconds", 0))
    if not isinstance(database, Database) or every <= 0:
        return

    async def round() -> None:
        await schedule_due(database)

    scheduler = Periodic(
        "integration sync scheduler",
        round,
        every,
        first_after=min(FIRST_ROUND_AFTER_SECONDS, every),
        expected=database_unreachable,
    )
    app.state.sync_scheduler = scheduler
    scheduler.start()


async def stop_sync_scheduler(app: FastAPI) -> None:
    scheduler = getattr(app.state, "sync_scheduler", None)
    if isinstance(scheduler, Periodic):
        await scheduler.stop()
