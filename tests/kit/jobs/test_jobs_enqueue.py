"""Enqueue in the caller's transaction: rollback leaves nothing, commit always leaves the job,
duplicates by idempotency key return the existing job, NOTIFY once per transaction."""

from __future__ import annotations

import asyncio
import random
import uuid

import asyncpg
import pytest
from sqlalchemy import text

from tickettoken.kit.db import Database
from tickettoken.kit.errors import BadRequest, ValidationFailed
from tickettoken.kit.jobs import JobSpec, enqueue, enqueue_many
from tickettoken.kit.jobs.catalog import NOTIFY_CHANNEL
from tickettoken.queue.engine import get_job


class Rollback(Exception):
    pass


async def test_concurrent_transactions_keep_exactly_the_committed_jobs(db: Database) -> None:
    listener = await asyncpg.connect(db.url.replace("postgresql+asyncpg://", "postgresql://"))
    notes: list[str] = []
    await listener.add_listener(NOTIFY_CHANNEL, lambda *args: notes.append(args[3]))
    marker = uuid.uuid4().hex
    outcomes: dict[str, bool] = {}

    async def one(i: int) -> None:
        commit = random.random() < 0.5
        key = f"tx:{marker}:{i}"
        try:
            async with db.transaction() as session:
                # The business write and its jobs: three jobs, one NOTIFY for the transaction.
                await session.execute(
                    text("INSERT INTO analytics_events (event_type, properties) VALUES (:t, '{}')"),
                    {"t": key},
                )
                await enqueue(session, queue="money", type="noop", payload={}, idempotency_key=key)
                await enqueue_many(session, [JobSpec("money", "noop", {"i": j}) for j in range(2)])
                await asyncio.sleep(random.random() / 50)
                if not commit:
                    raise Rollback
        except Rollback:
            pass
        outcomes[key] = commit
        if commit:  # visible to everyone as soon as the commit returned
            async with db.transaction() as session:
                found = await session.execute(
                    text("SELECT count(*) FROM jobs_money WHERE idempotency_key = :k"), {"k": key}
                )
                assert found.scalar_one() == 1

    try:
        await asyncio.gather(*(one(i) for i in range(60)))
        await asyncio.sleep(0.3)
    finally:
        await listener.close()
    async with db.transaction() as session:
        rows = await session.execute(
            text("SELECT idempotency_key FROM jobs_money WHERE idempotency_key LIKE :p"),
            {"p": f"tx:{marker}:%"},
        )
        present = {row[0] for row in rows}
        events = await session.execute(
            text("SELECT event_type FROM analytics_events WHERE event_type LIKE :p"),
            {"p": f"tx:{marker}:%"},
        )
        business = {row[0] for row in events}
    committed = {key for key, ok in outcomes.items() if ok}
    assert 0 < len(committed) < 60
    assert present == committed == business
    assert notes.count("money") == len(committed)


async def test_duplicate_key_returns_the_existing_job(db: Database) -> None:
    order = str(uuid.uuid4())
    payload = {"order_id": order, "amount_cents": 500, "currency": "usd"}

    async def attempt() -> tuple[str, bool]:
        async with db.transaction() as session:
            job = await enqueue(session, queue="money", type="payment-process", payload=payload)
            await asyncio.sleep(0.05)
            return job.job_id, job.created

    results = await asyncio.gather(*(attempt() for _ in range(5)))
    assert len({job_id for job_id, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, False, False, False, True]
    async with db.transaction() as session:
        job = await get_job(session, results[0][0])
    assert job is not None and job.idempotency_key == f"payment:order:{order}"


async def test_same_amount_for_two_orders_is_two_payments(db: Database) -> None:
    venue = str(uuid.uuid4())
    async with db.transaction() as session:
        first, second = await enqueue_many(
            session,
            [
                JobSpec(
                    "money",
                    "payment-process",
                    {"order_id": str(uuid.uuid4()), "amount_cents": 2500, "venue_id": venue},
                )
                for _ in range(2)
            ],
        )
    assert first.created and second.created and first.job_id != second.job_id


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (JobSpec("nope", "noop"), "unknown queue"),
        (JobSpec("money", "send-email"), "belongs to the 'communication' queue"),
        (JobSpec("money", "teleport"), "unknown job type"),
        (JobSpec("money", "noop", priority=0), "priority"),
        (JobSpec("money", "noop", delay=-1), "delay"),
        (JobSpec("money", "payment-process", {"amount_cents": 1}), "order_id"),
        (JobSpec("money", "refund-process", {"amount_cents": 1}), "payment_intent_id"),
        (JobSpec("money", "noop", idempotency_key="bad key!"), "idempotency key"),
    ],
)
async def test_invalid_jobs_are_refused(db: Database, spec: JobSpec, message: str) -> None:
    async with db.transaction() as session:
        with pytest.raises((BadRequest, ValidationFailed)) as refused:
            await enqueue_many(session, [spec])
    assert message in f"{refused.value.message} {refused.value.details}"


async def test_job_client_enqueues_on_its_own_transaction(db: Database) -> None:
    from tickettoken.kit.jobs import JobClient

    client = await JobClient.connect(db.url, max_size=2)
    try:
        order = str(uuid.uuid4())
        payment = {"order_id": order, "amount_cents": 700, "currency": "usd"}
        first = await client.enqueue(queue="money", type="payment-process", payload=payment)
        again = await client.enqueue(queue="money", type="payment-process", payload=payment)
        mixed = await client.enqueue_many(
            [JobSpec("communication", "noop", {"a": 1}), JobSpec("background", "noop", delay=5)]
        )
        with pytest.raises(BadRequest):
            await client.enqueue(queue="money", type="send-email", payload={})
    finally:
        await client.close()
    assert first.created and not again.created and first.job_id == again.job_id
    assert [job.queue for job in mixed] == ["communication", "background"]
    async with db.transaction() as session:
        job = await get_job(session, mixed[0].job_id)
        delayed = await get_job(session, mixed[1].job_id)
    assert job is not None and job.payload == {"a": 1} and job.status == "queued"
    assert delayed is not None and delayed.run_at > job.run_at
