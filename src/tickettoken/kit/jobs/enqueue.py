"""Enqueue jobs inside the caller's transaction.

The caller's session owns the transaction: an order and its payment job commit or roll back
together (the money tier's "enqueued atomically with the business write"). One set-based INSERT
per queue, and one ``pg_notify`` per queue per transaction: a NOTIFY per job serialises commits
(about 4,500 enqueues/s at most, ARCHITECTURE.md). NOTIFY is transactional, so a rolled-back
enqueue wakes nobody.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.kit.errors import BadRequest
from tickettoken.kit.jobs.catalog import (
    ANY_QUEUE_TYPES,
    JOB_TYPES,
    NOTIFY_CHANNEL,
    PRIORITY_DEFAULT,
    PRIORITY_HIGHEST,
    PRIORITY_LOWEST,
    TIERS,
)
from tickettoken.kit.jobs.keys import derive_idempotency_key, scoped_key, validate_key
from tickettoken.kit.jobs.payloads import checked_spec
from tickettoken.kit.jobs.records import EnqueuedJob, JobSpec

_NOTIFIED = "tickettoken.jobs.notified"
MAX_DELAY_SECONDS = 365 * 86400


def _check(spec: JobSpec) -> None:
    if spec.queue not in TIERS:
        raise BadRequest(f"unknown queue {spec.queue!r}; one of {', '.join(TIERS)}")
    expected = JOB_TYPES.get(spec.type)
    if expected is None and spec.type not in ANY_QUEUE_TYPES:
        raise BadRequest(f"unknown job type {spec.type!r}")
    if expected is not None and expected != spec.queue:
        raise BadRequest(f"job type {spec.type!r} belongs to the {expected!r} queue")
    if not PRIORITY_HIGHEST <= spec.priority <= PRIORITY_LOWEST:
        raise BadRequest("priority must be between 1 (highest) and 10 (lowest)")
    if not 0 <= spec.delay <= MAX_DELAY_SECONDS:
        raise BadRequest("delay must be between 0 seconds and one year")
    if spec.max_attempts is not None and not 1 <= spec.max_attempts <= 100:
        raise BadRequest("attempts must be between 1 and 100")
    if spec.venue_id is not None:
        try:
            uuid.UUID(spec.venue_id)
        except ValueError:
            raise BadRequest("venue_id must be a UUID") from None


def _notified_queues(session: AsyncSession) -> set[str]:
    """The queues already NOTIFYed in the session's current transaction."""
    transaction = session.sync_session.get_transaction()
    stored = session.info.get(_NOTIFIED)
    if stored is None or stored[0] is not transaction:
        stored = (transaction, set())
        session.info[_NOTIFIED] = stored
    notified: set[str] = stored[1]
    return notified


class Runner(Protocol):
    """Where enqueue's statements run: the caller's session, or a connection of ``JobClient``."""

    notified: set[str]

    async def fetch(self, sql: str, params: dict[str, Any]) -> Sequence[Mapping[str, Any]]: ...


@lru_cache(maxsize=64)
def _text(sql: str) -> TextClause:
    return text(sql)


class SessionRunner:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.notified = _notified_queues(session)

    async def fetch(self, sql: str, params: dict[str, Any]) -> Sequence[Mapping[str, Any]]:
        rows: Sequence[Mapping[str, Any]] = (
            (await self.session.execute(_text(sql), params)).mappings().all()  # type: ignore[assignment]
        )
        return rows


@lru_cache(maxsize=16)
def _insert_sql(table: str, notify: bool) -> str:
    """One statement inserts the jobs and, the first time in a transaction, NOTIFYs the queue
    (an uncorrelated scalar subquery runs once): one round trip per enqueue."""
    notified = ", (SELECT pg_notify(:channel, :queue)) AS notified" if notify else ""
    return (
        f"WITH ins AS (INSERT INTO {table} (job_uuid, type, payload, priority, max_attempts,"
        " run_at, idempotency_key, venue_id)"
        " SELECT u, t, p::jsonb, pr, ma, now() + make_interval(secs => d), k, v::uuid"
        " FROM unnest(CAST(:uuids AS uuid[]), CAST(:types AS text[]),"
        " CAST(:payloads AS text[]), CAST(:priorities AS smallint[]),"
        " CAST(:attempts AS integer[]), CAST(:delays AS float8[]), CAST(:keys AS text[]),"
        " CAST(:venues AS text[])) AS x(u, t, p, pr, ma, d, k, v)"
        " ON CONFLICT (idempotency_key) DO NOTHING"
        " RETURNING job_uuid, idempotency_key, status, priority, run_at)"
        f" SELECT ins.*{notified} FROM ins"
    )


async def enqueue(
    session: AsyncSession,
    *,
    queue: str,
    type: str,
    payload: dict[str, Any],
    priority: int = PRIORITY_DEFAULT,
    delay: float = 0,
    max_attempts: int | None = None,
    idempotency_key: str | None = None,
    venue_id: str | None = None,
) -> EnqueuedJob:
    """Add one job in the caller's transaction; a known idempotency key returns the existing job."""
    spec = JobSpec(queue, type, payload, priority, delay, max_attempts, idempotency_key, venue_id)
    return (await enqueue_many(session, [spec]))[0]


async def enqueue_many(session: AsyncSession, specs: Sequence[JobSpec]) -> list[EnqueuedJob]:
    """Add jobs in the caller's transaction, one INSERT per queue; results keep input order."""
    return await enqueue_with(SessionRunner(session), specs)


def queues_of(specs: Sequence[JobSpec]) -> set[str]:
    return {spec.queue for spec in specs}


async def enqueue_with(runner: Runner, specs: Sequence[JobSpec]) -> list[EnqueuedJob]:
    """The enqueue algorithm on any runner (validation, keys, stored results, insert)."""
    for spec in specs:
        _check(spec)
    specs = [checked_spec(spec) for spec in specs]  # 422 on a bad payload; stored form
    keys: list[str] = []
    uuids: list[uuid.UUID] = []
    natural: set[str] = set()
    for spec in specs:
        job_uuid = uuid.uuid4()
        key = spec.idempotency_key or derive_idempotency_key(spec.type, spec.payload)
        if key is None:
            key = f"{spec.type}:{job_uuid}"
        else:
            key = scoped_key(spec.key_scope, validate_key(key))
            natural.add(key)
        keys.append(key)
        uuids.append(job_uuid)

    stored = await _stored_results(runner, sorted(natural)) if natural else {}
    results: dict[int, EnqueuedJob] = {}
    by_queue: dict[str, list[int]] = {}
    for index, spec in enumerate(specs):
        if keys[index] in stored:
            row = stored[keys[index]]
            results[index] = EnqueuedJob(
                job_id=str(row["job_uuid"]),
                queue=row["queue"],
                type=row["job_type"],
                status="completed",
                created=False,
                priority=spec.priority,
                run_at=None,
                idempotency_key=keys[index],
                result=row["result"],
            )
        else:
            by_queue.setdefault(spec.queue, []).append(index)

    for queue_name, indexes in by_queue.items():
        await _insert(runner, queue_name, indexes, specs, keys, uuids, results)
    return [results[i] for i in range(len(specs))]


async def _stored_results(runner: Runner, keys: list[str]) -> dict[str, Any]:
    rows = await runner.fetch(
        "SELECT key, queue, job_type, job_uuid, result FROM idempotency_keys"
        " WHERE key = ANY(CAST(:keys AS text[])) AND expires_at > now()",
        {"keys": keys},
    )
    return {row["key"]: row for row in rows}


async def _insert(
    runner: Runner,
    queue: str,
    indexes: list[int],
    specs: Sequence[JobSpec],
    keys: list[str],
    uuids: list[uuid.UUID],
    results: dict[int, EnqueuedJob],
) -> None:
    tier = TIERS[queue]
    chosen = [specs[i] for i in indexes]
    params = {
        "uuids": [uuids[i] for i in indexes],
        "types": [s.type for s in chosen],
        "payloads": [json.dumps(s.payload, separators=(",", ":")) for s in chosen],
        "priorities": [s.priority for s in chosen],
        "attempts": [s.max_attempts or tier.max_attempts for s in chosen],
        "delays": [float(s.delay) for s in chosen],
        "keys": [keys[i] for i in indexes],
        "venues": [s.venue_id for s in chosen],
    }
    notify = queue not in runner.notified
    if notify:
        params.update(channel=NOTIFY_CHANNEL, queue=queue)
    rows = await runner.fetch(_insert_sql(tier.table, notify), params)
    if notify and rows:
        runner.notified.add(queue)
    inserted = {row["idempotency_key"]: row for row in rows}
    missing = [keys[i] for i in indexes if keys[i] not in inserted]
    existing: dict[str, Any] = {}
    if missing:
        found = await runner.fetch(
            f"SELECT job_uuid, idempotency_key, status, priority, run_at, type, result"
            f" FROM {tier.table} WHERE idempotency_key = ANY(CAST(:keys AS text[]))",
            {"keys": missing},
        )
        existing = {row["idempotency_key"]: row for row in found}
    claimed_keys: set[str] = set()
    for i in indexes:
        key = keys[i]
        row = inserted.get(key)
        created = row is not None and key not in claimed_keys
        if row is None or not created:
            row = inserted.get(key) or existing.get(key)
        if row is None:
            raise BadRequest(f"idempotency key {key!r} is used by a job of another type")
        claimed_keys.add(key)
        results[i] = EnqueuedJob(
            job_id=str(row["job_uuid"]),
            queue=queue,
            type=specs[i].type,
            status=row["status"],
            created=created,
            priority=row["priority"],
            run_at=row["run_at"],
            idempotency_key=key,
            result=row.get("result"),
        )
