"""Health statements: claim due connections (one instance each), record a check and recompute
the connection's ``integration_health`` row and ``integration_configs.health_status`` in the
same transaction, and the windowed figures the routes show."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tickettoken.integrations.health.rules import HealthStatus, health_status

# The claim is the check's start time in ``health_checked_at``, committed at once: another
# instance's claim skips rows locked by this statement (SKIP LOCKED) and, once it commits, finds
# them checked just now. A check that dies is retried after ``every`` like any other.
_CLAIM_DUE = text(
    """
    UPDATE integration_configs AS c SET health_checked_at = now()
    FROM (
        SELECT id FROM integration_configs
        WHERE status = 'connected'
          AND (health_checked_at IS NULL
               OR health_checked_at <= now() - make_interval(secs => :every))
        ORDER BY health_checked_at NULLS FIRST, id
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ) AS due
    WHERE c.id = due.id
    RETURNING c.venue_id, c.integration_type
    """
)

_INSERT_SAMPLE = text(
    """
    INSERT INTO integration_health_samples
        (venue_id, integration_type, ok, response_ms, status_code, error_code, trigger)
    VALUES (:venue, :provider, :ok, :ms, :status, :code, :trigger)
    RETURNING checked_at
    """
)

_CHECKS_SINCE = text(
    """
    SELECT count(*) AS checks, count(*) FILTER (WHERE ok) AS successes,
           avg(response_ms) AS average_ms, max(response_ms) AS max_ms,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY response_ms) AS p95_ms,
           max(checked_at) FILTER (WHERE ok) AS last_success_at,
           max(checked_at) FILTER (WHERE NOT ok) AS last_failure_at
    FROM integration_health_samples
    WHERE venue_id = :venue AND integration_type = :provider
      AND checked_at > now() - make_interval(secs => :seconds)
    """
)

# Whole hours: this hour and the ones before it, ``hours`` in all.
_CALLS_SINCE = text(
    """
    SELECT COALESCE(sum(api_calls), 0) AS calls, COALESCE(sum(failed_calls), 0) AS failed,
           COALESCE(sum(bytes_sent), 0) AS sent, COALESCE(sum(bytes_received), 0) AS received
    FROM integration_api_usage
    WHERE venue_id = :venue AND integration_type = :provider
      AND hour_start >= date_trunc('hour', now()) - make_interval(hours => :hours - 1)
    """
)

_QUEUE = text(
    """
    SELECT count(*) AS depth, min(queued_at) AS oldest FROM sync_queue
    WHERE venue_id = :venue AND integration_type = :provider AND status = 'pending'
    """
)

_SYNCS_24H = text(
    """
    SELECT count(*) AS syncs,
           count(*) FILTER (WHERE status = 'completed') AS completed,
           count(*) FILTER (WHERE status = 'failed') AS failed
    FROM sync_logs
    WHERE venue_id = :venue AND integration_type = :provider
      AND started_at > now() - interval '24 hours'
    """
)

_UPSERT_HEALTH = text(
    """
    INSERT INTO integration_health AS h
        (venue_id, integration_type, success_rate, average_sync_time_ms, last_success_at,
         last_failure_at, sync_count_24h, success_count_24h, failure_count_24h, api_calls_24h,
         queue_depth, oldest_queue_item_at, calculated_at)
    VALUES (:venue, :provider, :rate, :average_ms, :last_success_at, :last_failure_at,
            :syncs, :completed, :failed, :calls, :depth, :oldest, now())
    ON CONFLICT (venue_id, integration_type) DO UPDATE SET
        success_rate = EXCLUDED.success_rate,
        average_sync_time_ms = EXCLUDED.average_sync_time_ms,
        last_success_at = COALESCE(EXCLUDED.last_success_at, h.last_success_at),
        last_failure_at = COALESCE(EXCLUDED.last_failure_at, h.last_failure_at),
        sync_count_24h = EXCLUDED.sync_count_24h,
        success_count_24h = EXCLUDED.success_count_24h,
        failure_count_24h = EXCLUDED.failure_count_24h,
        api_calls_24h = EXCLUDED.api_calls_24h,
        queue_depth = EXCLUDED.queue_depth,
        oldest_queue_item_at = EXCLUDED.oldest_queue_item_at,
        calculated_at = now()
    """
)

HEALTH_ERROR_PREFIX = "Health check failed"

# health_status only takes the table's values; a failed check leaves its reason in last_error
# (a health reason replaced by the next one and cleared by a success; any other reason, such as
# a refused refresh token, is left alone).
_UPDATE_CONFIG = text(
    """
    UPDATE integration_configs SET
        health_status = :status,
        health_checked_at = now(),
        failure_count = CASE WHEN :ok THEN failure_count
                             ELSE COALESCE(failure_count, 0) + 1 END,
        last_error = CASE
            WHEN NOT :ok AND (last_error IS NULL OR last_error LIKE :prefix) THEN :error
            WHEN :ok AND last_error LIKE :prefix THEN NULL
            ELSE last_error END,
        last_error_at = CASE WHEN NOT :ok THEN now() ELSE last_error_at END,
        updated_at = now()
    WHERE venue_id = :venue AND integration_type = :provider
    """
)


@dataclass(frozen=True)
class Outcome:
    """What one live check found (no secret: codes, statuses and redacted details only)."""

    ok: bool
    response_ms: int
    status_code: int | None = None
    error_code: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Recorded:
    checked_at: datetime
    status: HealthStatus
    success_rate: Decimal | None
    average_ms: int | None


def percent(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(100) * part / whole).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


async def claim_due(engine: AsyncEngine, *, every: timedelta, limit: int) -> list[tuple[Any, str]]:
    async with engine.begin() as conn:
        rows = await conn.execute(_CLAIM_DUE, {"every": every.total_seconds(), "limit": limit})
        return [(row.venue_id, row.integration_type) for row in rows]


async def check_stats(
    conn: AsyncConnection, venue: uuid.UUID, provider: str, window: timedelta
) -> Any:
    return (
        await conn.execute(
            _CHECKS_SINCE,
            {"venue": venue, "provider": provider, "seconds": window.total_seconds()},
        )
    ).one()


async def call_stats(conn: AsyncConnection, venue: uuid.UUID, provider: str, hours: int) -> Any:
    return (
        await conn.execute(_CALLS_SINCE, {"venue": venue, "provider": provider, "hours": hours})
    ).one()


async def record_check(
    engine: AsyncEngine, venue: uuid.UUID, provider: str, outcome: Outcome, *, trigger: str
) -> Recorded:
    """Store the check, then recompute the 24 h row and the connection's status (one
    transaction: the row and the status always agree with the samples)."""
    key = {"venue": venue, "provider": provider}
    async with engine.begin() as conn:
        checked_at = (
            await conn.execute(
                _INSERT_SAMPLE,
                {
                    **key,
                    "ok": outcome.ok,
                    "ms": max(0, outcome.response_ms),
                    "status": outcome.status_code,
                    "code": (outcome.error_code or None) and outcome.error_code[:100],
                    "trigger": trigger,
                },
            )
        ).scalar_one()
        checks = await check_stats(conn, venue, provider, timedelta(hours=24))
        calls = await call_stats(conn, venue, provider, 24)
        queue = (await conn.execute(_QUEUE, key)).one()
        syncs = (await conn.execute(_SYNCS_24H, key)).one()
        rate = percent(checks.successes, checks.checks)
        average = round(checks.average_ms) if checks.average_ms is not None else None
        status = health_status(connection_ok=outcome.ok, success_rate=rate, response_ms=average)
        await conn.execute(
            _UPSERT_HEALTH,
            {
                **key,
                "rate": rate,
                "average_ms": average,
                "last_success_at": checked_at if outcome.ok else None,
                "last_failure_at": None if outcome.ok else checked_at,
                "syncs": syncs.syncs,
                "completed": syncs.completed,
                "failed": syncs.failed,
                "calls": min(int(calls.calls), 2**31 - 1),
                "depth": queue.depth,
                "oldest": queue.oldest,
            },
        )
        reason = outcome.detail or outcome.error_code or "no answer"
        await conn.execute(
            _UPDATE_CONFIG,
            {
                **key,
                "status": status,
                "ok": outcome.ok,
                "prefix": f"{HEALTH_ERROR_PREFIX}%",
                "error": f"{HEALTH_ERROR_PREFIX}: {reason}"[:1000],
            },
        )
    return Recorded(checked_at, status, rate, average)


async def forget_old(engine: AsyncEngine, *, older_than: timedelta, batch: int = 10_000) -> int:
    """Delete samples and hourly usage older than ``older_than`` (a batch per round, so a long
    backlog never holds one long transaction); how many rows went."""
    seconds = older_than.total_seconds()
    async with engine.begin() as conn:
        samples = await conn.execute(
            text(
                "DELETE FROM integration_health_samples WHERE id IN (SELECT id FROM"
                " integration_health_samples WHERE checked_at < now() - make_interval(secs => :s)"
                " LIMIT :batch)"
            ),
            {"s": seconds, "batch": batch},
        )
        usage = await conn.execute(
            text(
                "DELETE FROM integration_api_usage WHERE ctid IN (SELECT ctid FROM"
                " integration_api_usage WHERE hour_start < now() - make_interval(secs => :s)"
                " LIMIT :batch)"
            ),
            {"s": seconds, "batch": batch},
        )
    return int(samples.rowcount or 0) + int(usage.rowcount or 0)
