"""Leases and shutdown: a heartbeat keeps a long job's lease, SIGTERM-style stop releases
running jobs without counting the attempt, and metrics count outcomes per queue and type."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy import text
from tests.queue.engine.jobs_support import wait_for_status

from tickettoken.kit.jobs import JobContext, enqueue
from tickettoken.queue.engine import JobRegistry, get_job


async def test_heartbeat_keeps_the_lease_of_a_long_job(db, start_worker) -> None:
    registry = JobRegistry()
    runs: list[int] = []

    async def slow(ctx: JobContext) -> dict[str, Any]:
        if ctx.idempotency_key != key:  # another test's job in the shared engine database
            return {}
        runs.append(ctx.attempt)
        await asyncio.sleep(2.5)
        return {"done": True}

    registry.register("noop", slow)
    key = f"lease:{uuid.uuid4().hex}"
    async with db.transaction() as session:
        await enqueue(session, queue="communication", type="noop", payload={}, idempotency_key=key)
    # Two workers with a 1 s lease: without the heartbeat the other would take the job again.
    async with (
        start_worker(registry, ["communication"], lease=1.0, poll_interval=0.1),
        start_worker(registry, ["communication"], lease=1.0, poll_interval=0.1),
    ):
        await wait_for_status(db, "jobs_communication", [key], "completed")
    assert runs == [1]


async def test_stop_releases_running_jobs_without_counting_the_attempt(db, start_worker) -> None:
    registry = JobRegistry()
    started = asyncio.Event()

    async def endless(ctx: JobContext) -> dict[str, Any]:
        started.set()
        await asyncio.sleep(60)
        return {}

    registry.register("noop", endless)
    key = f"release:{uuid.uuid4().hex}"
    async with db.transaction() as session:
        job = await enqueue(session, queue="money", type="noop", payload={}, idempotency_key=key)
    async with start_worker(registry, ["money"], shutdown_timeout=0.2, poll_interval=0.1):
        await asyncio.wait_for(started.wait(), 10)
    async with db.transaction() as session:
        record = await get_job(session, job.job_id)
    assert record is not None
    assert (record.status, record.attempts, record.locked_by) == ("queued", 0, None)


async def test_metrics_count_outcomes(db, start_worker) -> None:
    registry = JobRegistry()

    async def ok(ctx: JobContext) -> dict[str, Any]:
        if ctx.payload.get("fail"):
            raise ValueError("no")
        return {}

    registry.register("noop", ok)

    def sample(outcome: str) -> float:
        value = REGISTRY.get_sample_value(
            "tickettoken_jobs_processed_total",
            {"queue": "background", "type": "noop", "outcome": outcome},
        )
        return value or 0.0

    before = sample("completed"), sample("failed")
    keys = [f"metrics:{uuid.uuid4().hex}" for _ in range(3)]
    async with db.transaction() as session:
        for i, key in enumerate(keys):
            await enqueue(
                session,
                queue="background",
                type="noop",
                payload={"fail": i == 0},
                idempotency_key=key,
            )
    async with start_worker(registry, ["background"], poll_interval=0.1):
        await wait_for_status(db, "jobs_background", keys[1:], "completed")
        await wait_for_status(db, "jobs_background", keys[:1], "failed")
        await asyncio.sleep(0.1)
    assert sample("completed") - before[0] >= 2
    assert sample("failed") - before[1] >= 1


async def test_a_job_whose_result_is_stored_is_not_run_again(db, start_worker) -> None:
    registry = JobRegistry()
    calls: list[str] = []

    async def charge(ctx: JobContext) -> dict[str, Any]:
        if ctx.idempotency_key == key:
            calls.append(ctx.idempotency_key)
        return {"charged": True}

    registry.register("noop", charge)
    key = f"stored:{uuid.uuid4().hex}"
    async with db.transaction() as session:
        job = await enqueue(session, queue="money", type="noop", payload={}, idempotency_key=key)
    async with start_worker(registry, ["money"], poll_interval=0.1):
        await wait_for_status(db, "jobs_money", [key], "completed")
        # An operator puts the finished job back (e.g. a requeued dead letter of a job whose
        # provider call had succeeded): the stored result completes it without a second call.
        async with db.transaction() as session:
            await session.execute(
                text("UPDATE jobs_money SET status = 'queued', result = NULL WHERE job_uuid = :u"),
                {"u": uuid.UUID(job.job_id)},
            )
        await wait_for_status(db, "jobs_money", [key], "completed")
    async with db.transaction() as session:
        record = await get_job(session, job.job_id)
    assert calls == [key]
    assert record is not None and record.result == {"charged": True}


async def test_a_result_after_the_lease_was_taken_back_is_not_applied(db, start_worker) -> None:
    """A worker whose job was taken back (its lease ran out, another attempt holds it now) must
    not run the result callbacks: the crash test saw an order marked paid by such a worker while
    the job's new attempt then failed on the order that was no longer pending."""
    registry = JobRegistry()
    applied: list[str] = []
    key = f"taken:{uuid.uuid4().hex}"

    async def taken_back_meanwhile(ctx: JobContext) -> dict[str, Any]:
        if ctx.idempotency_key != key:  # another test's job in the shared engine database
            return {}
        async with db.transaction() as session:  # what reclaiming and claiming again leave
            await session.execute(
                text(
                    "UPDATE jobs_money SET locked_by = 'another-worker', attempts = attempts + 1"
                    " WHERE idempotency_key = :key"
                ),
                {"key": key},
            )
        return {"charged": True}

    async def on_completed(session: Any, record: Any, result: dict[str, Any]) -> None:
        if record.idempotency_key == key:
            applied.append(record.job_id)

    registry.register("noop", taken_back_meanwhile)
    registry.on_completed("noop", on_completed)
    async with db.transaction() as session:
        job = await enqueue(session, queue="money", type="noop", payload={}, idempotency_key=key)
    async with start_worker(registry, ["money"], poll_interval=0.1):
        for _ in range(100):
            async with db.transaction() as session:
                record = await get_job(session, job.job_id)
            if record is not None and record.attempts == 2:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # time for the worker to write (or not) its outcome
    async with db.transaction() as session:
        record = await get_job(session, job.job_id)
    assert record is not None
    assert (record.status, record.locked_by) == ("active", "another-worker")
    assert applied == []
