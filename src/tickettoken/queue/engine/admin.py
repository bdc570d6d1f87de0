"""Reading and administering jobs: lookups, listings, cancel, retry, dead letters, pause, counts.

Every function works in the caller's session (the route's transaction commits). Jobs are found by
their public ``job_uuid`` in whichever tier table holds them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.kit.errors import BadRequest, Conflict, NotFound
from tickettoken.kit.jobs.catalog import JOB_STATUSES, NOTIFY_CHANNEL, TIERS, tier_for
from tickettoken.kit.jobs.records import DeadLetterRecord, JobRecord, QueueCounts

JOB_COLUMNS = (
    "job_uuid, type, status, priority, attempts, max_attempts, payload, result, last_error,"
    " idempotency_key, venue_id, run_at, locked_by, locked_until, created_at, updated_at,"
    " started_at, finished_at"
)


def _uuid(job_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(job_id))
    except ValueError:
        return None


def _queue(queue: str) -> str:
    try:
        return tier_for(queue).table
    except KeyError as exc:
        raise NotFound(str(exc.args[0])) from None


async def _locate(session: AsyncSession, job_id: str, lock: bool = False) -> JobRecord | None:
    parsed = _uuid(job_id)
    if parsed is None:
        return None
    suffix = " FOR UPDATE" if lock else ""
    for tier in TIERS.values():
        row = (
            (
                await session.execute(
                    text(f"SELECT {JOB_COLUMNS} FROM {tier.table} WHERE job_uuid = :id{suffix}"),
                    {"id": parsed},
                )
            )
            .mappings()
            .first()
        )
        if row is not None:
            return JobRecord.from_row(tier.queue, row)
    return None


async def get_job(session: AsyncSession, job_id: str) -> JobRecord | None:
    """The job with this public id, or None (also for ids that are not UUIDs)."""
    return await _locate(session, job_id)


async def list_jobs(
    session: AsyncSession,
    queue: str,
    status: str | None = None,
    *,
    page: int = 1,
    limit: int = 20,
    venue_ids: Sequence[str] | None = None,
) -> tuple[list[JobRecord], int]:
    """One page of a queue's jobs, newest first, and the total; ``venue_ids`` restricts."""
    table = _queue(queue)
    if status is not None and status not in JOB_STATUSES:
        raise BadRequest(f"unknown status {status!r}; one of {', '.join(JOB_STATUSES)}")
    where = ["TRUE"]
    params: dict[str, Any] = {"limit": limit, "offset": (max(page, 1) - 1) * limit}
    if status is not None:
        where.append("status = :status")
        params["status"] = status
    if venue_ids is not None:
        where.append("venue_id = ANY(CAST(:venues AS uuid[]))")
        params["venues"] = [v for v in venue_ids if _uuid(v)]
    clause = " AND ".join(where)
    total = (
        await session.execute(text(f"SELECT count(*) FROM {table} WHERE {clause}"), params)
    ).scalar_one()
    rows = await session.execute(
        text(
            f"SELECT {JOB_COLUMNS} FROM {table} WHERE {clause}"
            " ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset"
        ),
        params,
    )
    return [JobRecord.from_row(queue, row) for row in rows.mappings()], int(total)


async def _require(session: AsyncSession, job_id: str) -> JobRecord:
    job = await _locate(session, job_id, lock=True)
    if job is None:
        raise NotFound("job not found")
    return job


async def cancel_job(session: AsyncSession, job_id: str) -> JobRecord:
    """Cancel a job that is not running or finished (queued, delayed, failed or dead)."""
    job = await _require(session, job_id)
    if job.status not in ("queued", "failed", "dead", "cancelled"):
        raise Conflict(f"a {job.status} job cannot be cancelled")
    await session.execute(
        text(
            f"UPDATE {TIERS[job.queue].table} SET status = 'cancelled', updated_at = now(),"
            " finished_at = now() WHERE job_uuid = :id"
        ),
        {"id": uuid.UUID(job.job_id)},
    )
    return await _require(session, job_id)


async def _requeue(session: AsyncSession, job: JobRecord) -> JobRecord:
    await session.execute(
        text(
            f"UPDATE {TIERS[job.queue].table} SET status = 'queued', attempts = 0,"
            " run_at = now(), locked_by = NULL, locked_until = NULL, finished_at = NULL,"
            " updated_at = now() WHERE job_uuid = :id"
        ),
        {"id": uuid.UUID(job.job_id)},
    )
    await session.execute(
        text(
            "UPDATE dead_letter_jobs SET requeued_at = now(), updated_at = now()"
            " WHERE job_uuid = :id AND requeued_at IS NULL"
        ),
        {"id": uuid.UUID(job.job_id)},
    )
    await session.execute(
        text("SELECT pg_notify(:channel, :queue)"), {"channel": NOTIFY_CHANNEL, "queue": job.queue}
    )
    return await _require(session, job.job_id)


async def retry_job(session: AsyncSession, job_id: str) -> JobRecord:
    """Run a failed, dead or cancelled job again with a fresh set of attempts."""
    job = await _require(session, job_id)
    if job.status not in ("failed", "dead", "cancelled"):
        raise Conflict(f"a {job.status} job cannot be retried")
    return await _requeue(session, job)


async def list_dead_letters(
    session: AsyncSession,
    queue: str | None = None,
    *,
    page: int = 1,
    limit: int = 20,
    include_requeued: bool = False,
) -> tuple[list[DeadLetterRecord], int]:
    where = ["TRUE"]
    params: dict[str, Any] = {"limit": limit, "offset": (max(page, 1) - 1) * limit}
    if queue is not None:
        _queue(queue)
        where.append("queue = :queue")
        params["queue"] = queue
    if not include_requeued:
        where.append("requeued_at IS NULL")
    clause = " AND ".join(where)
    total = (
        await session.execute(text(f"SELECT count(*) FROM dead_letter_jobs WHERE {clause}"), params)
    ).scalar_one()
    rows = await session.execute(
        text(
            "SELECT id, queue, job_uuid, type, payload, attempts, last_error, idempotency_key,"
            f" venue_id, failed_at, requeued_at FROM dead_letter_jobs WHERE {clause}"
            " ORDER BY failed_at DESC LIMIT :limit OFFSET :offset"
        ),
        params,
    )
    return [DeadLetterRecord.from_row(row) for row in rows.mappings()], int(total)


async def requeue_dead_letter(session: AsyncSession, dead_letter_id: str) -> JobRecord:
    """Put a dead letter's job back on its queue (the same job id and idempotency key)."""
    parsed = _uuid(dead_letter_id)
    row = None
    if parsed is not None:
        row = (
            (
                await session.execute(
                    text(
                        "SELECT id, queue, job_uuid, type, payload, attempts, last_error,"
                        " idempotency_key, venue_id, failed_at, requeued_at FROM dead_letter_jobs"
                        " WHERE id = :id FOR UPDATE"
                    ),
                    {"id": parsed},
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound("dead letter not found")
    letter = DeadLetterRecord.from_row(row)
    if letter.requeued_at is not None:
        raise Conflict("dead letter was already requeued")
    job = await _locate(session, letter.job_id, lock=True) if letter.job_id else None
    if job is None:
        table = TIERS[letter.queue].table
        await session.execute(
            text(
                f"INSERT INTO {table} (job_uuid, type, payload, idempotency_key, venue_id)"
                " VALUES (COALESCE(CAST(:uuid AS uuid), gen_random_uuid()), :type,"
                " CAST(:payload AS jsonb), :key, CAST(:venue AS uuid))"
                " ON CONFLICT (idempotency_key) DO UPDATE SET status = 'queued', attempts = 0,"
                " run_at = now(), updated_at = now()"
            ),
            {
                "uuid": letter.job_id,
                "type": letter.type,
                "payload": json.dumps(letter.payload),
                "key": letter.idempotency_key,
                "venue": letter.venue_id,
            },
        )
        await session.execute(
            text("UPDATE dead_letter_jobs SET requeued_at = now() WHERE id = :id"), {"id": parsed}
        )
        found = await _locate(session, letter.job_id) if letter.job_id else None
        if found is None:
            raise NotFound("requeued job not found")
        return found
    return await _requeue(session, job)


async def pause_queue(session: AsyncSession, queue: str, by: str | None = None) -> None:
    _queue(queue)
    await session.execute(
        text(
            "INSERT INTO queue_state (queue, paused, paused_by) VALUES (:q, true, :by)"
            " ON CONFLICT (queue) DO UPDATE SET paused = true, paused_by = :by, updated_at = now()"
        ),
        {"q": queue, "by": by},
    )


async def resume_queue(session: AsyncSession, queue: str) -> None:
    _queue(queue)
    await session.execute(
        text(
            "UPDATE queue_state SET paused = false, paused_by = NULL, updated_at = now()"
            " WHERE queue = :q"
        ),
        {"q": queue},
    )
    await session.execute(
        text("SELECT pg_notify(:channel, :queue)"), {"channel": NOTIFY_CHANNEL, "queue": queue}
    )


async def is_paused(session: AsyncSession, queue: str) -> bool:
    _queue(queue)
    value = (
        await session.execute(text("SELECT paused FROM queue_state WHERE queue = :q"), {"q": queue})
    ).scalar_one_or_none()
    return bool(value)


async def clear_queue(session: AsyncSession, queue: str, statuses: Sequence[str]) -> int:
    """Delete a queue's jobs in the given statuses (never running ones); returns how many."""
    table = _queue(queue)
    wanted = list(dict.fromkeys(statuses))
    unknown = [s for s in wanted if s not in JOB_STATUSES]
    if unknown or not wanted:
        raise BadRequest(f"statuses must be some of {', '.join(JOB_STATUSES)}")
    if "active" in wanted:
        raise BadRequest("running jobs cannot be cleared; cancel or wait for them")
    result = await session.execute(
        text(f"DELETE FROM {table} WHERE status = ANY(CAST(:s AS text[]))"), {"s": wanted}
    )
    return int(getattr(result, "rowcount", 0) or 0)


# Every count reads an index, never the 90 days of finished history: the queued and active rows
# through their partial indexes, failed and dead through (status, created_at), and the recent
# windows through (finished_at) (revision 0005). Lifetime totals of completed and cancelled jobs
# are not counted: they would cost a scan of the table every monitoring round.
_COUNTS_SQL = """
SELECT
  (SELECT count(*) FROM {table} WHERE status = 'queued' AND run_at <= now()) AS waiting,
  (SELECT count(*) FROM {table} WHERE status = 'queued' AND run_at > now()) AS delayed,
  (SELECT extract(epoch FROM now() - min(run_at)) FROM {table}
    WHERE status = 'queued' AND run_at <= now()) AS oldest_waiting_seconds,
  (SELECT count(*) FROM {table} WHERE status = 'active') AS active,
  (SELECT count(*) FROM {table} WHERE status = 'failed') AS failed,
  (SELECT count(*) FROM {table} WHERE status = 'dead') AS dead,
  recent.completed_last_minute, recent.failed_last_minute, recent.failed_last_10_minutes
FROM (
  SELECT
    count(*) FILTER (WHERE status = 'completed' AND finished_at > now() - interval '1 minute')
      AS completed_last_minute,
    count(*) FILTER (WHERE status IN ('failed', 'dead')
      AND finished_at > now() - interval '1 minute') AS failed_last_minute,
    count(*) FILTER (WHERE status IN ('failed', 'dead')) AS failed_last_10_minutes
  FROM {table}
  WHERE finished_at IS NOT NULL AND finished_at > now() - interval '10 minutes'
) recent
"""


async def queue_counts(session: AsyncSession) -> dict[str, QueueCounts]:
    """Depths, ages and recent completions/failures of every queue (monitoring and alerts)."""
    paused = {
        row[0]: bool(row[1])
        for row in await session.execute(text("SELECT queue, paused FROM queue_state"))
    }
    counts: dict[str, QueueCounts] = {}
    for tier in TIERS.values():
        row = (await session.execute(text(_COUNTS_SQL.format(table=tier.table)))).mappings().one()
        oldest = row["oldest_waiting_seconds"]
        counts[tier.queue] = QueueCounts(
            queue=tier.queue,
            waiting=row["waiting"],
            delayed=row["delayed"],
            active=row["active"],
            failed=row["failed"],
            dead=row["dead"],
            paused=paused.get(tier.queue, False),
            oldest_waiting_seconds=float(oldest) if oldest is not None else None,
            completed_last_minute=row["completed_last_minute"],
            failed_last_minute=row["failed_last_minute"],
            failed_last_10_minutes=row["failed_last_10_minutes"],
        )
    return counts
