"""Plain records the engine hands out: what callers and routes see of a job.

Frozen dataclasses rather than ORM objects, because the job tables are written with set-based
SQL in batches and three tables share one shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from tickettoken.kit.jobs.catalog import PRIORITY_DEFAULT


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


@dataclass(frozen=True)
class JobSpec:
    """One job for ``enqueue_many``; the fields mean what ``enqueue``'s arguments mean.

    ``key_scope`` is the tenant an API caller acts for (``keys.caller_scope``): its job's key is
    stored under that scope, so it never meets another tenant's or the platform's own key.
    """

    queue: str
    type: str
    payload: dict[str, Any] = field(default_factory=dict)
    priority: int = PRIORITY_DEFAULT
    delay: float = 0.0
    max_attempts: int | None = None
    idempotency_key: str | None = None
    venue_id: str | None = None
    key_scope: str | None = None


@dataclass(frozen=True)
class EnqueuedJob:
    job_id: str
    queue: str
    type: str
    status: str
    created: bool
    priority: int
    run_at: datetime | None
    idempotency_key: str
    result: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    queue: str
    type: str
    status: str
    priority: int
    attempts: int
    max_attempts: int
    payload: dict[str, Any]
    result: dict[str, Any] | None
    last_error: str | None
    idempotency_key: str | None
    venue_id: str | None
    run_at: datetime
    locked_by: str | None
    locked_until: datetime | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    @classmethod
    def from_row(cls, queue: str, row: Mapping[Any, Any]) -> JobRecord:
        return cls(
            job_id=str(row["job_uuid"]),
            queue=queue,
            type=row["type"],
            status=row["status"],
            priority=row["priority"],
            attempts=row["attempts"],
            max_attempts=row["max_attempts"],
            payload=row["payload"] or {},
            result=row["result"],
            last_error=row["last_error"],
            idempotency_key=row["idempotency_key"],
            venue_id=str(row["venue_id"]) if row["venue_id"] else None,
            run_at=row["run_at"],
            locked_by=row["locked_by"],
            locked_until=row["locked_until"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
        )


@dataclass(frozen=True)
class DeadLetterRecord:
    id: str
    queue: str
    job_id: str | None
    type: str
    payload: dict[str, Any]
    attempts: int
    last_error: str | None
    idempotency_key: str | None
    venue_id: str | None
    failed_at: datetime
    requeued_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> DeadLetterRecord:
        return cls(
            id=str(row["id"]),
            queue=row["queue"],
            job_id=str(row["job_uuid"]) if row["job_uuid"] else None,
            type=row["type"],
            payload=row["payload"] or {},
            attempts=row["attempts"],
            last_error=row["last_error"],
            idempotency_key=row["idempotency_key"],
            venue_id=str(row["venue_id"]) if row["venue_id"] else None,
            failed_at=row["failed_at"],
            requeued_at=row["requeued_at"],
        )


@dataclass
class QueueCounts:
    """A queue's current state (``queue_counts``): depths, failed and dead jobs waiting for an
    administrator, and what finished in the recent windows."""

    queue: str
    waiting: int = 0
    delayed: int = 0
    active: int = 0
    failed: int = 0
    dead: int = 0
    paused: bool = False
    oldest_waiting_seconds: float | None = None
    completed_last_minute: int = 0
    failed_last_minute: int = 0
    failed_last_10_minutes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
