"""Health checks against the sandbox over HTTP and the real database: the status rule of SPEC
5.3 driven by real failures (a provider that stops answering, a broken connection), the 24 h row
and the connection's health_status, and one check per connection and round however many
instances run the scheduler."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update
from tests.integrations.health.support import (
    clients_for,
    connect_stripe,
    dead_stripe,
    engine_for,
    fetch,
    integration_app,
)
from tests.support import make_settings, migrated_scratch_database

from tickettoken.integrations.connections.clients import ProviderClients
from tickettoken.integrations.health.checker import check_and_record, check_due
from tickettoken.integrations.health.repository import forget_old
from tickettoken.integrations.health.rules import health_status
from tickettoken.integrations.models import SYNC_STATUSES, IntegrationConfig
from tickettoken.kit.settings import Settings

HEALTH_ROW = (
    "SELECT success_rate, average_sync_time_ms, last_success_at, last_failure_at,"
    " api_calls_24h, queue_depth, oldest_queue_item_at"
    " FROM integration_health WHERE venue_id = :venue AND integration_type = 'stripe'"
)
CONFIG = (
    "SELECT health_status, health_checked_at, last_error, status FROM integration_configs"
    " WHERE venue_id = :venue AND integration_type = 'stripe'"
)


@pytest.mark.parametrize(
    ("ok", "rate", "ms", "expected"),
    [
        (True, Decimal(100), 200, "healthy"),
        (True, Decimal(90), 5000, "healthy"),
        (True, Decimal("89.99"), 200, "degraded"),
        (True, Decimal(100), 5001, "degraded"),
        (True, Decimal(50), 200, "degraded"),
        (True, Decimal("49.99"), 200, "unhealthy"),
        (True, Decimal(100), 10_001, "unhealthy"),
        (False, Decimal(100), 10, "unhealthy"),
        (True, None, None, "healthy"),
    ],
)
def test_status_rule(ok: bool, rate: Decimal | None, ms: int | None, expected: str) -> None:
    assert health_status(connection_ok=ok, success_rate=rate, response_ms=ms) == expected


@pytest.fixture
async def clients(integration_settings: Settings) -> AsyncIterator[ProviderClients]:
    built = clients_for(integration_settings)
    yield built
    await built.aclose()


async def test_status_follows_real_failures(
    integration_settings: Settings, clients: ProviderClients
) -> None:
    venue = uuid.uuid4()
    unreachable = clients_for(dead_stripe(integration_settings))
    async with engine_for(integration_settings) as engine:
        await connect_stripe(engine, integration_settings, venue)
        # Two pending and one dead-lettered sync item: the queue depth counts pending only.
        async with engine.begin() as conn:
            for status in ("pending", "pending", "dead_letter"):
                assert status in SYNC_STATUSES
                await conn.exec_driver_sql(
                    "INSERT INTO sync_queue (venue_id, integration_type, operation_type,"
                    " entity_type, payload, status) VALUES ($1, 'stripe', 'sync', 'product',"
                    " '{}', $2)",
                    (venue, status),
                )

        async def check(using: ProviderClients) -> str:
            done = await check_and_record(engine, using, venue, "stripe", trigger="manual")
            assert done is not None
            return done[1].status

        try:
            assert await check(clients) == "healthy"
            [row] = await fetch(engine, HEALTH_ROW, venue=venue)
            assert row.success_rate == Decimal("100.00") and row.queue_depth == 2
            assert row.oldest_queue_item_at is not None and row.last_failure_at is None

            # The provider stops answering: the connection failed, unhealthy at once.
            assert await check(unreachable) == "unhealthy"
            [config] = await fetch(engine, CONFIG, venue=venue)
            assert config.health_status == "unhealthy" and config.status == "connected"
            assert config.last_error.startswith("Health check failed")
            [row] = await fetch(engine, HEALTH_ROW, venue=venue)
            assert row.success_rate == Decimal("50.00") and row.last_failure_at is not None

            # It answers again: 2 of 3 in 24 h (66.67 %) is degraded, not healthy.
            assert await check(clients) == "degraded"
            [config] = await fetch(engine, CONFIG, venue=venue)
            assert config.health_status == "degraded" and config.last_error is None
            # Until 90 % of the day's checks succeeded: 9 of 10.
            statuses = [await check(clients) for _ in range(7)]
            assert statuses == ["degraded"] * 6 + ["healthy"]
            [row] = await fetch(engine, HEALTH_ROW, venue=venue)
            assert row.success_rate == Decimal("90.00")
            assert row.average_sync_time_ms is not None

            # A connection whose grant was refused ("error") is checked and found failed.
            async with engine.begin() as conn:
                await conn.execute(
                    update(IntegrationConfig)
                    .where(IntegrationConfig.venue_id == venue)
                    .values(status="error", last_error="the provider refused the refresh token")
                )
            assert await check(clients) == "unhealthy"
            [config] = await fetch(engine, CONFIG, venue=venue)
            # A reason that is not the health check's own is left alone.
            assert config.last_error == "the provider refused the refresh token"
            samples = await fetch(
                engine,
                "SELECT ok, error_code FROM integration_health_samples WHERE venue_id = :venue"
                " ORDER BY id",
                venue=venue,
            )
            assert [s.ok for s in samples] == [True, False] + [True] * 8 + [False]
            assert samples[-1].error_code == "connection_broken"
        finally:
            await unreachable.aclose()


@pytest.fixture(scope="module")
async def scheduler_database(pg_server_url: str) -> AsyncIterator[str]:
    """The scheduler claims every due connection of its database: its own database, so other
    tests' connections are not checked (nor their tokens refreshed) behind their back."""
    async with migrated_scratch_database(pg_server_url, "tt_health") as url:
        yield url


async def test_two_instances_check_each_connection_once(
    scheduler_database: str, integration_settings: Settings, redis_url: str
) -> None:
    settings = make_settings(
        database_url=scheduler_database,
        redis_url=redis_url,
        **{
            name: getattr(integration_settings, name)
            for name in (
                "api_url",
                "encryption_key",
                "stripe_secret_key",
                "stripe_base_url",
                "stripe_connect_base_url",
            )
        },
    )
    venues = [uuid.uuid4() for _ in range(12)]
    async with engine_for(settings) as first, engine_for(settings) as second:
        for venue in venues:
            await connect_stripe(first, settings, venue)
        a, b = clients_for(settings), clients_for(settings)
        try:
            every = timedelta(minutes=5)
            checked = await asyncio.gather(
                check_due(first, a, every=every, limit=5, concurrency=4),
                check_due(second, b, every=every, limit=5, concurrency=4),
                check_due(first, a, every=every, limit=5, concurrency=4),
                check_due(second, b, every=every, limit=5, concurrency=4),
            )
            assert sum(checked) == len(venues)
            counts = await fetch(
                first,
                "SELECT venue_id, count(*) AS n FROM integration_health_samples GROUP BY 1",
            )
            assert {row.venue_id: row.n for row in counts} == dict.fromkeys(venues, 1)
            # Nothing is due again within the interval, on either instance.
            assert await check_due(second, b, every=every) == 0
            assert await check_due(first, a, every=every) == 0
            statuses = await fetch(first, "SELECT DISTINCT health_status FROM integration_configs")
            assert [s.health_status for s in statuses] == ["healthy"]
            # Once due again, every connection is checked again (once).
            assert await check_due(first, a, every=timedelta(0)) == len(venues)
        finally:
            await a.aclose()
            await b.aclose()


async def test_the_service_task_on_two_instances(
    scheduler_database: str,
    integration_settings: Settings,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two running integration services (their background tasks as ``tickettoken up`` starts
    them), rounds every 0.1 s: each new connection is checked once, and each service's usage
    meter writes the calls it made at shutdown."""
    from tickettoken.integrations.health import tasks

    monkeypatch.setattr(tasks, "FIRST_ROUND_AFTER_SECONDS", 0.0)
    monkeypatch.setattr(tasks, "ROUND_EVERY_SECONDS", 0.1)
    settings = make_settings(
        database_url=scheduler_database,
        redis_url=redis_url,
        **{
            name: getattr(integration_settings, name)
            for name in ("api_url", "encryption_key", "stripe_secret_key", "stripe_base_url")
        },
    )
    venues = [uuid.uuid4() for _ in range(6)]
    async with engine_for(settings) as engine:
        for venue in venues:
            await connect_stripe(engine, settings, venue)
        count = (
            "SELECT venue_id, count(*) AS n FROM integration_health_samples"
            " WHERE venue_id = ANY(:venues) GROUP BY 1"
        )
        async with (
            integration_app(settings, health_checker=True),
            integration_app(settings, health_checker=True),
        ):
            for _ in range(100):
                if len(await fetch(engine, count, venues=venues)) == len(venues):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # several more rounds on both instances
            checked = {row.venue_id: row.n for row in await fetch(engine, count, venues=venues)}
        assert checked == dict.fromkeys(venues, 1)
        costs = await fetch(
            engine,
            "SELECT venue_id, api_calls FROM integration_costs WHERE venue_id = ANY(:venues)",
            venues=venues,
        )
        assert {row.venue_id: row.api_calls for row in costs} == dict.fromkeys(venues, 1)


async def test_old_samples_and_usage_are_forgotten(integration_settings: Settings) -> None:
    venue = uuid.uuid4()
    async with engine_for(integration_settings) as engine:
        async with engine.begin() as conn:
            for days in (40, 1):
                await conn.exec_driver_sql(
                    "INSERT INTO integration_health_samples (venue_id, integration_type,"
                    " checked_at, ok, response_ms) VALUES ($1, 'stripe',"
                    " now() - make_interval(days => $2), true, 10)",
                    (venue, days),
                )
                await conn.exec_driver_sql(
                    "INSERT INTO integration_api_usage (venue_id, integration_type, hour_start,"
                    " api_calls) VALUES ($1, 'stripe',"
                    " date_trunc('hour', now()) - make_interval(days => $2), 1)",
                    (venue, days),
                )
        assert await forget_old(engine, older_than=timedelta(days=35)) >= 2
        left = await fetch(
            engine,
            "SELECT (SELECT count(*) FROM integration_health_samples WHERE venue_id = :venue) AS s,"
            " (SELECT count(*) FROM integration_api_usage WHERE venue_id = :venue) AS u",
            venue=venue,
        )
        assert (left[0].s, left[0].u) == (1, 1)
