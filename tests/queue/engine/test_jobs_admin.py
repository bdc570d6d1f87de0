"""Administering jobs: listings, cancel, retry, clear, counts (what the queue routes call)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from tickettoken.kit.db import Database
from tickettoken.kit.errors import BadRequest, Conflict, NotFound
from tickettoken.kit.jobs import JobSpec, enqueue_many
from tickettoken.queue.engine import (
    cancel_job,
    clear_queue,
    get_job,
    is_paused,
    list_jobs,
    pause_queue,
    queue_counts,
    resume_queue,
    retry_job,
)


async def test_cancel_retry_list_and_counts(db: Database) -> None:
    venue = str(uuid.uuid4())
    async with db.transaction() as session:
        now, later = await enqueue_many(
            session,
            [
                JobSpec("communication", "noop", {"n": 1}, venue_id=venue),
                JobSpec("communication", "noop", {"n": 2}, delay=3600, venue_id=venue),
            ],
        )
    async with db.transaction() as session:
        counts = (await queue_counts(session))["communication"]
        assert counts.waiting >= 1 and counts.delayed >= 1
        assert counts.oldest_waiting_seconds is not None
        items, total = await list_jobs(session, "communication", "queued", venue_ids=[venue])
        assert total == 2 and {j.job_id for j in items} == {now.job_id, later.job_id}
        cancelled = await cancel_job(session, later.job_id)
        assert cancelled.status == "cancelled"
        retried = await retry_job(session, later.job_id)
        assert (retried.status, retried.attempts) == ("queued", 0)
        with pytest.raises(Conflict):
            await retry_job(session, now.job_id)  # queued: nothing to retry
        await session.execute(
            text("UPDATE jobs_communication SET status = 'completed' WHERE job_uuid = :u"),
            {"u": uuid.UUID(now.job_id)},
        )
        with pytest.raises(Conflict):
            await cancel_job(session, now.job_id)
        with pytest.raises(NotFound):
            await cancel_job(session, str(uuid.uuid4()))
        assert await get_job(session, "not-a-uuid") is None
        with pytest.raises(BadRequest):
            await list_jobs(session, "communication", "bogus")
        with pytest.raises(NotFound):
            await list_jobs(session, "nope")


async def test_pause_and_clear(db: Database) -> None:
    async with db.transaction() as session:
        await pause_queue(session, "background", by="admin-1")
        assert await is_paused(session, "background")
        await resume_queue(session, "background")
        assert not await is_paused(session, "background")
        (job,) = await enqueue_many(session, [JobSpec("background", "noop")])
        await cancel_job(session, job.job_id)
        with pytest.raises(BadRequest):
            await clear_queue(session, "background", ["active"])
        assert await clear_queue(session, "background", ["cancelled"]) >= 1
        assert await get_job(session, job.job_id) is None
