"""The daily clean-up is scheduled exactly once per day, however many instances ask."""

from __future__ import annotations

import asyncio
from datetime import date

from sqlalchemy import text

from tickettoken.kit.db import Database
from tickettoken.queue.maintenance import schedule_daily_cleanup


async def test_daily_cleanup_is_enqueued_once_across_instances(database_url: str) -> None:
    instances = [Database(database_url) for _ in range(3)]
    day = date(2031, 5, 17)  # a day no other test schedules
    try:
        jobs = await asyncio.gather(
            *(schedule_daily_cleanup(db, day) for db in instances for _ in range(5))
        )
        assert sum(job.created for job in jobs) == 1
        assert len({job.job_id for job in jobs}) == 1
        async with instances[0].transaction() as session:
            rows = (
                await session.execute(
                    text("SELECT type, status FROM jobs_background WHERE idempotency_key = :k"),
                    {"k": "cleanup-old-data:2031-05-17"},
                )
            ).all()
        assert rows == [("cleanup-old-data", "queued")]
        other_day = await schedule_daily_cleanup(instances[0], date(2031, 5, 18))
        assert other_day.created
    finally:
        for db in instances:
            await db.dispose()
