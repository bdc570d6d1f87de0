"""The health routes' work: venue scoping exactly as the connection routes (another venue's
integration is 404), the stored 24 h row, rolling metrics, and a live check on demand."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from tickettoken.integrations.connections import repository as connections
from tickettoken.integrations.connections.clients import ProviderClients
from tickettoken.integrations.connections.errors import NotConnected
from tickettoken.integrations.connections.service import scoped_venue
from tickettoken.integrations.health import repository
from tickettoken.integrations.health.checker import check_and_record
from tickettoken.integrations.health.schemas import (
    CheckResult,
    HealthMetrics,
    HealthView,
    MetricsBucket,
    Period,
)
from tickettoken.integrations.models import IntegrationConfig, IntegrationHealth
from tickettoken.kit.auth import Principal

WINDOWS: dict[str, tuple[timedelta, str]] = {
    "24h": (timedelta(hours=24), "hour"),
    "7d": (timedelta(days=7), "day"),
    "30d": (timedelta(days=30), "day"),
}
# Connections that can be checked: a broken one ("error") is checked too, and found failed.
CHECKABLE = ("connected", "error")

_BUCKETS = text(
    """
    WITH checks AS (
        SELECT date_trunc(:unit, checked_at) AS start, count(*) AS checks,
               count(*) FILTER (WHERE ok) AS successes, avg(response_ms) AS average_ms
        FROM integration_health_samples
        WHERE venue_id = :venue AND integration_type = :provider
          AND checked_at > now() - make_interval(secs => :seconds)
        GROUP BY 1
    ), calls AS (
        SELECT date_trunc(:unit, hour_start) AS start, sum(api_calls) AS calls
        FROM integration_api_usage
        WHERE venue_id = :venue AND integration_type = :provider
          AND hour_start >= date_trunc('hour', now() - make_interval(secs => :seconds))
        GROUP BY 1
    )
    SELECT COALESCE(checks.start, calls.start) AS start, COALESCE(checks.checks, 0) AS checks,
           COALESCE(checks.successes, 0) AS successes, checks.average_ms,
           COALESCE(calls.calls, 0) AS calls
    FROM checks FULL JOIN calls ON checks.start = calls.start
    ORDER BY 1
    """
)


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None


def health_view(config: IntegrationConfig, row: IntegrationHealth | None) -> HealthView:
    return HealthView(
        provider=config.integration_type,
        venue_id=config.venue_id,
        connection_status=config.status or "disconnected",
        status=config.health_status or "unknown",
        success_rate=_float(row.success_rate) if row else None,
        average_response_ms=row.average_sync_time_ms if row else None,
        last_success_at=row.last_success_at if row else None,
        last_failure_at=row.last_failure_at if row else None,
        last_checked_at=config.health_checked_at,
        sync_count_24h=(row.sync_count_24h or 0) if row else 0,
        sync_success_count_24h=(row.success_count_24h or 0) if row else 0,
        sync_failure_count_24h=(row.failure_count_24h or 0) if row else 0,
        api_calls_24h=(row.api_calls_24h or 0) if row else 0,
        queue_depth=(row.queue_depth or 0) if row else 0,
        oldest_queue_item_at=row.oldest_queue_item_at if row else None,
        calculated_at=row.calculated_at if row else None,
        last_error=config.last_error,
    )


async def _config(session: AsyncSession, venue: uuid.UUID, provider: str) -> IntegrationConfig:
    config = await connections.get_config(session, venue, provider)
    if config is None:
        raise NotConnected()
    return config


async def _health_row(
    session: AsyncSession, venue: uuid.UUID, provider: str
) -> IntegrationHealth | None:
    found: IntegrationHealth | None = await session.scalar(
        select(IntegrationHealth)
        .where(IntegrationHealth.venue_id == venue, IntegrationHealth.integration_type == provider)
        .execution_options(populate_existing=True)
    )
    return found


async def get_health(
    session: AsyncSession, principal: Principal, venue_id: uuid.UUID | None, provider: str
) -> HealthView:
    venue = scoped_venue(principal, venue_id, manage=False)
    config = await _config(session, venue, provider)
    return health_view(config, await _health_row(session, venue, provider))


async def get_metrics(
    engine: AsyncEngine,
    session: AsyncSession,
    principal: Principal,
    venue_id: uuid.UUID | None,
    provider: str,
    period: Period,
) -> HealthMetrics:
    venue = scoped_venue(principal, venue_id, manage=False)
    config = await _config(session, venue, provider)
    window, unit = WINDOWS[period]
    hours = int(window.total_seconds() // 3600)
    async with engine.connect() as conn:
        checks = await repository.check_stats(conn, venue, provider, window)
        calls = await repository.call_stats(conn, venue, provider, hours)
        buckets = await _buckets(conn, venue, provider, window, unit)
    until = datetime.now(UTC)
    return HealthMetrics(
        provider=provider,
        venue_id=venue,
        period=period,
        since=until - window,
        until=until,
        checks=checks.checks,
        successes=checks.successes,
        failures=checks.checks - checks.successes,
        success_rate=_float(repository.percent(checks.successes, checks.checks)),
        average_response_ms=_rounded(checks.average_ms),
        p95_response_ms=_rounded(checks.p95_ms),
        max_response_ms=checks.max_ms,
        api_calls=int(calls.calls),
        failed_api_calls=int(calls.failed),
        bytes_sent=int(calls.sent),
        bytes_received=int(calls.received),
        status=config.health_status or "unknown",
        buckets=buckets,
    )


def _rounded(value: Any) -> int | None:
    return round(value) if value is not None else None


async def _buckets(
    conn: AsyncConnection, venue: uuid.UUID, provider: str, window: timedelta, unit: str
) -> list[MetricsBucket]:
    rows = await conn.execute(
        _BUCKETS,
        {"venue": venue, "provider": provider, "seconds": window.total_seconds(), "unit": unit},
    )
    return [
        MetricsBucket(
            start=row.start,
            checks=row.checks,
            successes=row.successes,
            average_response_ms=_rounded(row.average_ms),
            api_calls=int(row.calls),
        )
        for row in rows
    ]


async def check_now(
    engine: AsyncEngine,
    session: AsyncSession,
    clients: ProviderClients,
    principal: Principal,
    venue_id: uuid.UUID | None,
    provider: str,
) -> CheckResult:
    """A live check now, recorded like a scheduled one (``trigger = 'manual'``)."""
    venue = scoped_venue(principal, venue_id, manage=True)
    config = await _config(session, venue, provider)
    if config.status not in CHECKABLE:
        raise NotConnected("Integration not connected")
    # The request's own transaction has only read; the check writes in its own transactions.
    await session.commit()
    done = await check_and_record(engine, clients, venue, provider, trigger="manual")
    if done is None:
        raise NotConnected("Integration not connected")
    outcome, recorded = done
    config = await _config(session, venue, provider)
    await session.refresh(config)
    return CheckResult(
        provider=provider,
        venue_id=venue,
        ok=outcome.ok,
        response_time_ms=outcome.response_ms,
        provider_status=outcome.status_code,
        error_code=outcome.error_code,
        detail=outcome.detail,
        checked_at=recorded.checked_at,
        health=health_view(config, await _health_row(session, venue, provider)),
    )
