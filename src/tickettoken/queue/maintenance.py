"""Recurring maintenance jobs, scheduled by every queue-service instance without a coordinator.

Once an hour each instance enqueues the day's ``cleanup-old-data`` job (the retention periods
of SPEC section 6) under the key ``cleanup-old-data:<UTC date>``. The job table's unique
idempotency key makes the first enqueue of the day win and every later one a no-op, so several
instances (or restarts) schedule it exactly once a day, and the schedule itself lives in the
database rather than in any process's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, date, datetime

import structlog
from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from tickettoken.kit.db import Database
from tickettoken.kit.jobs import EnqueuedJob, enqueue

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


async def _loop(database: Database) -> None:
    while True:
        try:
            job = await schedule_daily_cleanup(database)
            if job.created:
                log.info("cleanup_scheduled", job_id=job.job_id)
        except SQLAlchemyError as exc:  # database restarting: try again next round
            log.error("cleanup_schedule_failed", error=str(exc))
        await asyncio.sleep(CHECK_EVERY_SECONDS)


async def start(app: FastAPI) -> None:
    app.state.maintenance_task = asyncio.create_task(_loop(app.state.database), name="maintenance")


async def stop(app: FastAPI) -> None:
    task: asyncio.Task[None] | None = getattr(app.state, "maintenance_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
