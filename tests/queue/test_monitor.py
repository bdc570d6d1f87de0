"""The monitor round and the alert rules, in process."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
from aiohttp import web
from sqlalchemy import text
from tests.support import make_settings

from tickettoken.kit.db import Database
from tickettoken.kit.jobs import QueueCounts
from tickettoken.kit.provider_limits import ProviderLimit, RateLimitTimeout, create_rate_limiter
from tickettoken.kit.settings import Settings
from tickettoken.queue.alerts.rules import cooldown_seconds, evaluate
from tickettoken.queue.engine import queue_counts
from tickettoken.queue.monitoring import monitor
from tickettoken.queue.monitoring.config import MonitorConfig
from tickettoken.queue.monitoring.monitor import run_round
from tickettoken.queue.monitoring.repository import insert_samples
from tickettoken.queue.monitoring.turns import claim_turn


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


def _counts(**money: float) -> dict[str, QueueCounts]:
    return {
        "money": QueueCounts("money", **money),  # type: ignore[arg-type]
        "communication": QueueCounts("communication"),
        "background": QueueCounts("background"),
    }


def test_rules_use_spec_thresholds_and_windows() -> None:
    config = MonitorConfig(_env_file=None)  # type: ignore[call-arg]
    assert evaluate(_counts(waiting=50, oldest_waiting_seconds=600), config) == []
    fired = {a.key: a for a in evaluate(_counts(waiting=51), config)}
    assert set(fired) == {"money.waiting"} and fired["money.waiting"].severity == "critical"
    assert cooldown_seconds(fired["money.waiting"], config) == 300
    assert {a.key for a in evaluate(_counts(oldest_waiting_seconds=601), config)} == {
        "money.oldest_waiting"
    }
    # Failures count over the last 10 minutes only: a large lifetime total does not alert.
    assert evaluate(_counts(failed=10_000, dead=500, failed_last_10_minutes=10), config) == []
    assert {a.key for a in evaluate(_counts(failed_last_10_minutes=11), config)} == {
        "money.failures_10m"
    }
    # Failure rate needs enough finished jobs in the window, then > 10 % warns.
    assert evaluate(_counts(completed_last_minute=5, failed_last_minute=5), config) == []
    rate = evaluate(_counts(completed_last_minute=80, failed_last_minute=20), config)
    assert [(a.key, a.severity) for a in rate] == [("money.failure_rate", "warning")]
    assert cooldown_seconds(rate[0], config) == 3600
    counts = _counts()
    counts["communication"].waiting = 5_001
    counts["background"].waiting = 50_001
    assert {(a.key, a.severity) for a in evaluate(counts, config)} == {
        ("communication.waiting", "warning"),
        ("background.waiting", "warning"),
    }


async def test_claim_turn_once_per_interval(database: Database) -> None:
    key = f"test:{uuid.uuid4().hex}"
    async with database.transaction() as session:
        assert await claim_turn(session, key, 60)
    async with database.transaction() as session:
        assert not await claim_turn(session, key, 60)
    async with database.transaction() as session:
        assert await claim_turn(session, key, 0)


async def test_round_samples_queues_and_rate_limits(database: Database, settings: Settings) -> None:
    limiter = create_rate_limiter(
        None, limits={"stripe": ProviderLimit(rate=0.001, concurrency=1, burst=1)}
    )
    holder = await limiter.acquire("stripe")
    with pytest.raises(RateLimitTimeout):
        await limiter.acquire("stripe", max_wait=0.05)
    await limiter.release("stripe", holder)
    marker = await _latest(database)
    config = MonitorConfig(
        _env_file=None,  # type: ignore[call-arg]
        metrics_sample_seconds=0.001,
        alert_money_waiting=10**9,
        alert_money_oldest_seconds=10**9,
        alert_money_failures_10m=10**9,
        alert_communication_waiting=10**9,
        alert_background_waiting=10**9,
        alert_failure_rate_min_jobs=10**9,
    )
    assert await run_round(database, settings, config, limiter) == []
    async with database.transaction() as session:
        queues = (
            (
                await session.execute(
                    text("SELECT DISTINCT queue_name FROM queue_metrics WHERE id > :m"),
                    {"m": marker},
                )
            )
            .scalars()
            .all()
        )
        limits = (
            await session.execute(
                text(
                    "SELECT rejected, concurrent FROM rate_limit_metrics WHERE provider = 'stripe'"
                    " ORDER BY id DESC LIMIT 1"
                )
            )
        ).one()
    assert set(queues) == {"money", "communication", "background"}
    assert limits.rejected == 1 and limits.concurrent == 0
    assert (await limiter.state("stripe")).timeouts == 0  # counters drained into the table


async def _latest(database: Database) -> int:
    async with database.transaction() as session:
        value = (await session.execute(text("SELECT max(id) FROM queue_metrics"))).scalar()
    return int(value or 0)


async def test_stop_lets_the_round_in_progress_deliver_its_alert(scratch_db: str) -> None:
    """Shutdown in the middle of a delivery: the alert already stored is still sent."""
    arrived, delivered = asyncio.Event(), []

    async def slow_webhook(request: web.Request) -> web.Response:
        arrived.set()
        await asyncio.sleep(1.0)
        delivered.append((await request.json())["id"])
        return web.json_response({"ok": True})

    hook = web.Application()
    hook.router.add_post("/alerts", slow_webhook)
    runner = web.AppRunner(hook, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    database = Database(scratch_db)
    try:
        async with database.transaction() as session:
            await session.execute(text("INSERT INTO jobs_money (type) VALUES ('payment-process')"))
        config = MonitorConfig(  # type: ignore[call-arg]
            _env_file=None,
            monitor_interval_seconds=0.1,
            alert_money_waiting=0,
            alert_cooldown_critical_seconds=3600,
        )
        settings = make_settings(alert_webhook_url=f"http://127.0.0.1:{port}/alerts")
        app = SimpleNamespace(
            state=SimpleNamespace(database=database, settings=settings, monitor_config=config)
        )
        await monitor.start(app)  # type: ignore[arg-type]
        await asyncio.wait_for(arrived.wait(), 10)
        await monitor.stop(app)  # type: ignore[arg-type]

        async with database.transaction() as session:
            stored = (await session.execute(text("SELECT id::text FROM alert_history"))).all()
        assert [row[0] for row in stored] == delivered and len(delivered) == 1
    finally:
        await database.dispose()
        await runner.cleanup()


async def test_samples_count_completions_since_the_previous_sample(scratch_db: str) -> None:
    database = Database(scratch_db)

    async def complete(jobs: int) -> None:
        async with database.transaction() as session:
            await session.execute(
                text(
                    "INSERT INTO jobs_money (type, status, finished_at)"
                    " SELECT 'payment-process', 'completed', now() FROM generate_series(1, :n)"
                ),
                {"n": jobs},
            )

    async def sample() -> int:
        async with database.transaction() as session:
            await insert_samples(session, await queue_counts(session))
        async with database.transaction() as session:
            found = await session.execute(
                text(
                    "SELECT completed FROM queue_metrics WHERE queue_name = 'money'"
                    " ORDER BY captured_at DESC LIMIT 1"
                )
            )
            return int(found.scalar_one())

    try:
        await complete(3)
        assert await sample() == 3
        await complete(2)
        assert await sample() == 2
        assert await sample() == 0
    finally:
        await database.dispose()
