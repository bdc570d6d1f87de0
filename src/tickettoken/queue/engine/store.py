"""The worker's SQL: batch claim, batch finish, lease heartbeat and lease reclaim.

Everything is set-based: one statement claims up to ``n`` jobs (``FOR UPDATE SKIP LOCKED``), one
statement finishes every job of a kind in a batch. Per-job commits are what make the common
libraries slow (ARCHITECTURE.md, "Queue engine").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.kit.jobs.catalog import Tier
from tickettoken.kit.jobs.records import JobRecord

LEASE_EXPIRED = "lease expired: the worker stopped responding"


@dataclass
class ClaimedJob:
    """A job this worker holds the lease of."""

    id: int
    record: JobRecord
    backoff: dict[str, Any]
    stored_result: dict[str, Any] | None


def _claim_sql(tier: Tier) -> str:
    stored = (
        "LEFT JOIN idempotency_keys ik ON ik.key = c.idempotency_key AND ik.expires_at > now()"
        if tier.store_results
        else ""
    )
    stored_col = "ik.result" if tier.store_results else "NULL::jsonb"
    return f"""
WITH c AS (
  UPDATE {tier.table} SET status = 'active', attempts = attempts + 1, locked_by = :worker,
    locked_until = now() + make_interval(secs => :lease), started_at = now(), updated_at = now()
  WHERE id IN (
    SELECT id FROM {tier.table}
    WHERE status = 'queued' AND run_at <= now()
      AND NOT EXISTS (SELECT 1 FROM queue_state WHERE queue = :queue AND paused)
    ORDER BY priority, run_at, id
    FOR UPDATE SKIP LOCKED LIMIT :n)
  RETURNING *)
SELECT c.*, {stored_col} AS stored_result FROM c {stored}
ORDER BY c.priority, c.run_at, c.id
"""


async def claim(
    session: AsyncSession, tier: Tier, worker_id: str, n: int, lease: float
) -> list[ClaimedJob]:
    rows = await session.execute(
        text(_claim_sql(tier)), {"worker": worker_id, "lease": lease, "queue": tier.queue, "n": n}
    )
    return [
        ClaimedJob(
            id=row["id"],
            record=JobRecord.from_row(tier.queue, row),
            backoff=row["backoff"],
            stored_result=row["stored_result"],
        )
        for row in rows.mappings()
    ]


async def complete(
    session: AsyncSession, tier: Tier, worker_id: str, results: dict[int, dict[str, Any]]
) -> set[int]:
    """Mark jobs completed (only those this worker still holds); returns the ids updated."""
    store = (
        ", ins AS (INSERT INTO idempotency_keys (key, queue, job_type, job_uuid, result,"
        " expires_at) SELECT idempotency_key, :queue, type, job_uuid, result,"
        " now() + interval '90 days' FROM done WHERE idempotency_key IS NOT NULL"
        " ON CONFLICT (key) DO NOTHING)"
        if tier.store_results
        else ""
    )
    rows = await session.execute(
        text(
            f"WITH done AS (UPDATE {tier.table} t SET status = 'completed', result = x.value,"
            " last_error = NULL, locked_by = NULL, locked_until = NULL, finished_at = now(),"
            " updated_at = now() FROM jsonb_each(CAST(:results AS jsonb)) x"
            " WHERE t.id = x.key::bigint AND t.status = 'active' AND t.locked_by = :worker"
            " RETURNING t.id, t.idempotency_key, t.type, t.job_uuid, t.result)"
            f"{store} SELECT id FROM done"
        ),
        {
            "results": json.dumps({str(k): v for k, v in results.items()}, default=str),
            "worker": worker_id,
            "queue": tier.queue,
        },
    )
    return {row[0] for row in rows}


async def reschedule(
    session: AsyncSession,
    tier: Tier,
    worker_id: str,
    retries: Sequence[tuple[int, float, str]],
) -> set[int]:
    """Back to queued after ``delay`` seconds with the error kept (a retryable failure)."""
    rows = await session.execute(
        text(
            f"UPDATE {tier.table} t SET status = 'queued', run_at = now() + make_interval(secs"
            " => x.d), last_error = x.e, locked_by = NULL, locked_until = NULL, updated_at = now()"
            " FROM unnest(CAST(:ids AS bigint[]), CAST(:delays AS float8[]),"
            " CAST(:errors AS text[])) AS x(id, d, e)"
            " WHERE t.id = x.id AND t.status = 'active' AND t.locked_by = :worker RETURNING t.id"
        ),
        {
            "ids": [r[0] for r in retries],
            "delays": [r[1] for r in retries],
            "errors": [r[2] for r in retries],
            "worker": worker_id,
        },
    )
    return {row[0] for row in rows}


async def release(session: AsyncSession, tier: Tier, worker_id: str, ids: Sequence[int]) -> int:
    """Give jobs back without counting the attempt (graceful shutdown)."""
    result = await session.execute(
        text(
            f"UPDATE {tier.table} SET status = 'queued', attempts = greatest(attempts - 1, 0),"
            " locked_by = NULL, locked_until = NULL, updated_at = now()"
            " WHERE id = ANY(CAST(:ids AS bigint[])) AND status = 'active' AND locked_by = :worker"
        ),
        {"ids": list(ids), "worker": worker_id},
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def fail(
    session: AsyncSession,
    tier: Tier,
    worker_id: str,
    failures: Sequence[tuple[int, str]],
    *,
    dead: bool,
) -> set[int]:
    """Fail jobs for good: ``failed`` (permanent error) or ``dead`` plus a dead-letter row."""
    status = "dead" if dead else "failed"
    letter = (
        ", dl AS (INSERT INTO dead_letter_jobs (queue, original_job_id, job_uuid, type, payload,"
        " attempts, last_error, idempotency_key, venue_id) SELECT :queue, id, job_uuid, type,"
        " payload, attempts, last_error, idempotency_key, venue_id FROM done)"
        if dead
        else ""
    )
    rows = await session.execute(
        text(
            f"WITH done AS (UPDATE {tier.table} t SET status = '{status}', last_error = x.e,"
            " locked_by = NULL, locked_until = NULL, finished_at = now(), updated_at = now()"
            " FROM unnest(CAST(:ids AS bigint[]), CAST(:errors AS text[])) AS x(id, e)"
            " WHERE t.id = x.id AND t.status = 'active' AND t.locked_by = :worker"
            " RETURNING t.*)"
            f"{letter} SELECT id FROM done"
        ),
        {
            "ids": [f[0] for f in failures],
            "errors": [f[1] for f in failures],
            "worker": worker_id,
            "queue": tier.queue,
        },
    )
    return {row[0] for row in rows}


async def heartbeat(
    session: AsyncSession, tier: Tier, worker_id: str, ids: Sequence[int], lease: float
) -> set[int]:
    """Extend the leases this worker still holds; returns the ids it still holds."""
    rows = await session.execute(
        text(
            f"UPDATE {tier.table} SET locked_until = now() + make_interval(secs => :lease)"
            " WHERE id = ANY(CAST(:ids AS bigint[])) AND status = 'active'"
            " AND locked_by = :worker RETURNING id"
        ),
        {"ids": sorted(ids), "worker": worker_id, "lease": lease},
    )
    return {row[0] for row in rows}


async def reclaim_expired(session: AsyncSession, tier: Tier) -> tuple[int, int]:
    """Take back jobs whose lease expired: requeue them, or dead-letter the exhausted ones."""
    requeued = await session.execute(
        text(
            f"UPDATE {tier.table} SET status = 'queued', locked_by = NULL, locked_until = NULL,"
            " run_at = now(), last_error = :error, updated_at = now()"
            f" WHERE id IN (SELECT id FROM {tier.table} WHERE status = 'active'"
            " AND locked_until < now() AND attempts < max_attempts FOR UPDATE SKIP LOCKED)"
            " RETURNING id"
        ),
        {"error": LEASE_EXPIRED},
    )
    dead = await session.execute(
        text(
            f"WITH done AS (UPDATE {tier.table} SET status = 'dead', locked_by = NULL,"
            " locked_until = NULL, last_error = :error, finished_at = now(), updated_at = now()"
            f" WHERE id IN (SELECT id FROM {tier.table} WHERE status = 'active'"
            " AND locked_until < now() AND attempts >= max_attempts FOR UPDATE SKIP LOCKED)"
            " RETURNING *), dl AS (INSERT INTO dead_letter_jobs (queue, original_job_id,"
            " job_uuid, type, payload, attempts, last_error, idempotency_key, venue_id)"
            " SELECT :queue, id, job_uuid, type, payload, attempts, last_error, idempotency_key,"
            " venue_id FROM done) SELECT id FROM done"
        ),
        {"error": LEASE_EXPIRED, "queue": tier.queue},
    )
    return len(requeued.all()), len(dead.all())
