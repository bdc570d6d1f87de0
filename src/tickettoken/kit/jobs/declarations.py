"""What a service declares about jobs: a handler per job type, result callbacks, what a handler
gets (``JobContext``) and the two kinds of job failure.

These live in ``kit`` because every service declares them (the event service's callbacks mark
an order paid in the transaction that finishes the payment job) while only the queue service
runs them: the worker's registry (``tickettoken.queue.engine.registry``) is filled from the
declarations the service table (``tickettoken.services``) lists.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.kit.jobs.records import JobRecord

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from tickettoken.kit.db import Database
    from tickettoken.kit.settings import Settings


class RetryableJobError(Exception):
    """A failure worth retrying with backoff (provider busy, timeout, connection lost)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentJobError(Exception):
    """A failure that retrying cannot fix (bad input, card declined, no handler)."""


class ProviderLimiter(Protocol):
    """The shared provider rate limiter (``tickettoken.kit.provider_limits``) as handlers use it."""

    def slot(self, provider: str, /) -> AbstractAsyncContextManager[Any]: ...

    async def penalize(self, provider: str, retry_after: float | None, /) -> None: ...


@dataclass
class JobContext:
    """Everything a handler gets: the claimed job and the process's shared resources."""

    job_id: str
    queue: str
    type: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    idempotency_key: str
    venue_id: str | None
    database: Database
    http: httpx.AsyncClient
    settings: Settings
    limiter: ProviderLimiter
    worker_id: str = ""
    extras: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[JobContext], Awaitable[dict[str, Any]]]
CompletedCallback = Callable[[AsyncSession, JobRecord, dict[str, Any]], Awaitable[None]]
FailedCallback = Callable[[AsyncSession, JobRecord, str], Awaitable[None]]

DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class JobHandler:
    """Declares that ``handler`` runs jobs of ``job_type``, each within ``timeout`` seconds."""

    job_type: str
    handler: Handler
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class OnCompleted:
    """Declares a callback run in the transaction that completes a job of ``job_type``."""

    job_type: str
    callback: CompletedCallback


@dataclass(frozen=True)
class OnFailed:
    """Declares a callback run when a job of ``job_type`` fails for good (failed or dead)."""

    job_type: str
    callback: FailedCallback


JobDeclaration = JobHandler | OnCompleted | OnFailed
