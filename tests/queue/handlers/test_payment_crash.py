"""Crash test (issue 3 acceptance): 1,000 ``payment-process`` jobs, two worker processes, one of
them killed with SIGKILL every few seconds and restarted. Every job completes, the payments
sandbox records exactly one charge per order, and no job is dead-lettered.
The two workers share one Stripe limit (25 calls/s, 10 at once) through PostgreSQL, and a killed
worker's concurrency slots stay taken until their leases lapse (5 s), so the pace is about 12 to
25 payments/s: 1,000 keeps the test inside its deadline with a kill every 5 s (a restarted worker
needs about 2 s before it claims anything).

A killed worker's jobs come back when their lease expires; any of them that had already charged
is charged again with the same ``Idempotency-Key``, which the provider answers by replaying the
first charge instead of making a second one.
"""

from __future__ import annotations

import asyncio
import signal
import tempfile
import time

import pytest
from sqlalchemy import text
from tests.conftest import create_scratch_database, drop_scratch_database
from tests.queue.handlers.handler_processes import base_env, run_sandbox, start_worker, stop
from tests.queue.handlers.platform_orders import pending_orders_with_payment_jobs

from tickettoken.kit.db import Database
from tickettoken.migrations.runner import upgrade_to_head

JOBS = 1000
KILL_EVERY = 5.0
DEADLINE = 150.0


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_kill_9_never_loses_or_repeats_a_charge(pg_server_url: str) -> None:
    url = await create_scratch_database(pg_server_url, prefix="tt_crash")
    database = Database(url, pool_min=1, pool_max=4)
    try:
        await asyncio.to_thread(upgrade_to_head, url)
        async with database.transaction() as session:
            await pending_orders_with_payment_jobs(session, [1000 + i for i in range(JOBS)])
        with run_sandbox() as sandbox, tempfile.TemporaryDirectory() as cwd:
            env = base_env(DATABASE_URL=url, **sandbox.env())
            args = (
                "--queues",
                "money",
                "--concurrency",
                "10",
                "--lease",
                "2",
                "--poll-interval",
                "0.2",
                "--shutdown-timeout",
                "5",
            )
            steady = start_worker(env, *args, cwd=cwd)
            victim = start_worker(env, *args, cwd=cwd)
            kills = 0
            started = time.monotonic()
            try:
                while time.monotonic() - started < DEADLINE:
                    await asyncio.sleep(KILL_EVERY)
                    async with database.transaction() as session:
                        done = (
                            await session.execute(
                                text("SELECT count(*) FROM jobs_money WHERE status = 'completed'")
                            )
                        ).scalar_one()
                    if done == JOBS:
                        break
                    victim.send_signal(signal.SIGKILL)
                    victim.wait()
                    kills += 1
                    victim = start_worker(env, *args, cwd=cwd)
            finally:
                stop(victim)
                assert stop(steady) == 0  # graceful shutdown on SIGTERM
            stats = sandbox.get("/_sandbox/payments/stats").json()

        async with database.transaction() as session:
            statuses = dict(
                (
                    await session.execute(
                        text("SELECT status, count(*) FROM jobs_money GROUP BY status")
                    )
                ).all()
            )
            dead = (
                await session.execute(text("SELECT count(*) FROM dead_letter_jobs"))
            ).scalar_one()
            stored = (
                await session.execute(text("SELECT count(*) FROM idempotency_keys"))
            ).scalar_one()
            errors = (
                await session.execute(
                    text(
                        "SELECT last_error, count(*) FROM jobs_money WHERE status <> 'completed'"
                        " GROUP BY last_error"
                    )
                )
            ).all()
        assert kills >= 3, "the test must actually kill workers"
        assert statuses == {"completed": JOBS}, errors
        assert dead == 0
        assert stored == JOBS
        assert stats["charges"] == JOBS
        assert stats["orders_charged"] == JOBS
        assert stats["orders_charged_twice"] == []
        print(
            f"crash test: {kills} kills, {stats['replays']} idempotent replays, "
            f"{time.monotonic() - started:.1f}s"
        )
    finally:
        await database.dispose()
        await drop_scratch_database(pg_server_url, url)
