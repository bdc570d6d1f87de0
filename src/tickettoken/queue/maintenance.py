"""Recurring maintenance jobs, scheduled by every queue-service instance without a coordinator.

Once an hour each instance enqueues the day's ``cleanup-old-data`` job (the retention periods
of SPEC section 6) under the key ``cleanup-old-data:<UTC date>``. The job table's unique
idempotency key makes the first enqueue of the day win and every later one a no-op, so several
instances (or restarts) schedule it exactly once a day, and the schedule itself lives in the
database rather than in any process's memory.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import structlog
from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from tickettoken.kit.db import Database
from tickettoken.kit.jobs import EnqueuedJob, enqueue
from tickettoken.kit.periodic import Periodic

log = structlog.get_logger(__name__)

CHECK_EVERY_SECONDS = 3600.0


async def schedule_daily_cleanup(database: Database, day: date | None = None) -> EnqueuedJob:
    """Enqueue the day's clean-up unless some instance already did."""
    day = day or datetime.now(UTC).date()
    async with database.transaction() as session:
        return await enqueue(
            session,
            queue="background",
            type="cleanup-old-data",
            payload={},
            idempotency_key=f"cleanup-old-data:{day.isoformat()}",
        )


async def _schedule_round(database: Database) -> None:
    job = await schedule_daily_cleanup(database)
    if job.created:
        log.info("cleanup_scheduled", job_id=job.job_id)


async def start(app: FastAPI) -> None:
    database: Database = app.state.database
    app.state.maintenance = Periodic(
        "maintenance",
        lambda: _schedule_round(database),
        CHECK_EVERY_SECONDS,
        # Database restarting: try again next round.
        expected=lambda exc: isinstance(exc, SQLAlchemyError),
    )
    app.state.maintenance.start()


async def stop(app: FastAPI) -> None:
    periodic: Periodic | None = getattr(app.state, "maintenance", None)
    if periodic is not None:
        await periodic.stop()
