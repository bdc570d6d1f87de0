"""The worker against real PostgreSQL: runs jobs, retries with backoff, dead-letters, priorities,
delays, pause/resume, unknown types and result callbacks."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.queue.engine.jobs_support import wait_for_status

from tickettoken.kit.jobs import (
    JobContext,
    JobRecord,
    JobSpec,
    RetryableJobError,
    enqueue,
    enqueue_many,
)
from tickettoken.queue.engine import (
    JobRegistry,
    get_job,
    list_dead_letters,
    pause_queue,
    requeue_dead_letter,
    resume_queue,
)


def _keys(n: int) -> list[str]:
    prefix = uuid.uuid4().hex
    return [f"t:{prefix}:{i}" for i in range(n)]


async def test_worker_runs_jobs_of_every_tier(db, start_worker) -> None:
    seen: list[str] = []
    registry = JobRegistry()

    async def handle(ctx: JobContext) -> dict[str, Any]:
        seen.append(ctx.idempotency_key)
        return {"echo": ctx.payload["n"]}

    registry.register("noop", handle)
    keys = {q: _keys(60) for q in ("money", "communication", "background")}
    async with start_worker(registry, ["money", "communication", "background"], concurrency=5):
        async with db.transaction() as session:
            for queue, ks in keys.items():
                await enqueue_many(
                    session,
                    [JobSpec(queue, "noop", {"n": i}, idempotency_key=k) for i, k in enumerate(ks)],
                )
        for queue, ks in keys.items():
            await wait_for_status(db, f"jobs_{queue}", ks, "completed")
    assert set(seen) >= {k for ks in keys.values() for k in ks}
    async with db.transaction() as session:
        job = await enqueue(
            session, queue="money", type="noop", payload={"n": 1}, idempotency_key=keys["money"][1]
        )
    assert job.created is False
    assert job.status == "completed"
    assert job.result == {"echo": 1}


async def test_retryable_errors_back_off_then_dead_letter_and_requeue(db, start_worker) -> None:
    registry = JobRegistry()
    calls: list[int] = []
    fail = {"on": True}

    async def flaky(ctx: JobContext) -> dict[str, Any]:
        calls.append(ctx.attempt)
        if fail["on"]:
            raise RetryableJobError("provider busy", retry_after=0.1)
        return {"ok": True}

    registry.register("noop", flaky)
    (key,) = _keys(1)
    async with db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO jobs_communication (type, payload, idempotency_key, max_attempts,"
                " backoff) VALUES ('noop', '{}', :k, 3, '{\"type\": \"fixed\", \"delay_ms\": 100}')"
            ),
            {"k": key},
        )
    async with start_worker(registry, ["communication"], poll_interval=0.1):
        await wait_for_status(db, "jobs_communication", [key], "dead")
        assert calls == [1, 2, 3]
        async with db.transaction() as session:
            letters, _ = await list_dead_letters(session, "communication", limit=100)
            letter = next(d for d in letters if d.idempotency_key == key)
            assert "attempts exhausted" in (letter.last_error or "")
            fail["on"] = False
            job = await requeue_dead_letter(session, letter.id)
            assert job.status == "queued"
        await wait_for_status(db, "jobs_communication", [key], "completed")


async def test_permanent_error_and_unknown_type_fail_at_once(db, start_worker) -> None:
    registry = JobRegistry()

    async def broken(ctx: JobContext) -> dict[str, Any]:
        raise ValueError("malformed payload")

    registry.register("noop", broken)
    keys = _keys(2)
    async with db.transaction() as session:
        await enqueue(session, queue="background", type="noop", payload={}, idempotency_key=keys[0])
        await enqueue(
            session,
            queue="background",
            type="generate-report",
            payload={"report_type": "queue-activity"},
            idempotency_key=keys[1],
        )
    async with start_worker(registry, ["background"]):
        await wait_for_status(db, "jobs_background", keys, "failed")
    async with db.transaction() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT idempotency_key, attempts, last_error FROM jobs_background"
                    " WHERE idempotency_key = ANY(:k)"
                ),
                {"k": keys},
            )
        ).all()
    errors = {r[0]: (r[1], r[2]) for r in rows}
    assert errors[keys[0]][0] == 1 and "malformed payload" in errors[keys[0]][1]
    assert "no handler registered for job type 'generate-report'" in errors[keys[1]][1]


async def test_priority_one_runs_first_and_delay_is_respected(db, start_worker) -> None:
    registry = JobRegistry()
    order: list[int] = []

    async def record(ctx: JobContext) -> dict[str, Any]:
        if ctx.idempotency_key in keys:
            order.append(ctx.payload["priority"])
        return {}

    registry.register("noop", record)
    keys = _keys(11)
    async with db.transaction() as session:
        await pause_queue(session, "background")
    try:
        async with start_worker(registry, ["background"], concurrency=1, poll_interval=0.1):
            async with db.transaction() as session:
                await enqueue_many(
                    session,
                    [
                        JobSpec(
                            "background",
                            "noop",
                            {"priority": p},
                            priority=p,
                            idempotency_key=keys[p - 1],
                        )
                        for p in (10, 5, 1, 7, 3, 9, 2, 8, 4, 6)
                    ],
                )
                delayed = await enqueue(
                    session,
                    queue="background",
                    type="noop",
                    payload={"priority": 0},
                    delay=1.0,
                    idempotency_key=keys[10],
                )
            await asyncio.sleep(0.3)
            assert order == []  # paused
            async with db.transaction() as session:
                await resume_queue(session, "background")
            await wait_for_status(db, "jobs_background", keys[:10], "completed")
            assert order == list(range(1, 11))
            async with db.transaction() as session:
                job = await get_job(session, delayed.job_id)
                assert job is not None and job.status == "queued"
            await wait_for_status(db, "jobs_background", keys[10:], "completed")
    finally:
        async with db.transaction() as session:
            await resume_queue(session, "background")


async def test_result_callback_commits_with_the_job(db, start_worker) -> None:
    registry = JobRegistry()
    outcomes: list[tuple[str, Any]] = []

    async def pay(ctx: JobContext) -> dict[str, Any]:
        if ctx.payload.get("decline"):
            raise ValueError("card declined")
        return {"paid": ctx.payload["order"]}

    async def paid(session: AsyncSession, job: JobRecord, result: dict[str, Any]) -> None:
        status = (
            await session.execute(
                text("SELECT status FROM jobs_money WHERE job_uuid = :u"),
                {"u": uuid.UUID(job.job_id)},
            )
        ).scalar_one()
        outcomes.append(("completed", (result["paid"], status)))

    async def declined(session: AsyncSession, job: JobRecord, error: str) -> None:
        outcomes.append(("failed", error))

    registry.register("noop", pay)
    registry.on_completed("noop", paid)
    registry.on_failed("noop", declined)
    keys = _keys(2)
    async with db.transaction() as session:
        await enqueue(
            session, queue="money", type="noop", payload={"order": "o1"}, idempotency_key=keys[0]
        )
        await enqueue(
            session, queue="money", type="noop", payload={"decline": True}, idempotency_key=keys[1]
        )
    async with start_worker(registry, ["money"]):
        await wait_for_status(db, "jobs_money", keys[:1], "completed")
        await wait_for_status(db, "jobs_money", keys[1:], "failed")
    assert ("completed", ("o1", "completed")) in outcomes
    assert any(kind == "failed" and "card declined" in str(err) for kind, err in outcomes)
