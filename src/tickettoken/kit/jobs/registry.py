"""Handlers per job type, result callbacks, and the two kinds of job failure.

The engine imports no service (``kit`` knows none): a registry is filled from declarations
(``JobHandler``, ``OnCompleted``, ``OnFailed``) that the service table
(``tickettoken.services``) lists, e.g. the queue service's handler per job type and the event
service's callbacks that mark an order paid in the transaction that finishes the payment job.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.kit.jobs.catalog import ANY_QUEUE_TYPES, JOB_TYPES
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
    """The shared provider rate limiter (``tickettoken.queue.ratelimit``) as handlers use it."""

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
class HandlerEntry:
    handler: Handler
    timeout: float


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


class JobRegistry:
    """Job type -> handler, plus callbacks run when a job of a type completes or fails."""

    def __init__(self) -> None:
        self.handlers: dict[str, HandlerEntry] = {}
        self.completed_callbacks: dict[str, list[CompletedCallback]] = {}
        self.failed_callbacks: dict[str, list[FailedCallback]] = {}

    def register(
        self, job_type: str, handler: Handler, *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self.handlers[job_type] = HandlerEntry(handler, timeout)

    def handler(
        self, job_type: str, *, timeout: float = DEFAULT_TIMEOUT
    ) -> Callable[[Handler], Handler]:
        def decorate(fn: Handler) -> Handler:
            self.register(job_type, fn, timeout=timeout)
            return fn

        return decorate

    def on_completed(self, job_type: str, callback: CompletedCallback) -> None:
        """Run ``callback(session, job, result)`` in the transaction that completes the job."""
        self.completed_callbacks.setdefault(job_type, []).append(callback)

    def on_failed(self, job_type: str, callback: FailedCallback) -> None:
        """Run ``callback(session, job, error)`` when a job fails for good (failed or dead)."""
        self.failed_callbacks.setdefault(job_type, []).append(callback)

    def declare(self, declarations: Iterable[JobDeclaration]) -> JobRegistry:
        """Add declared handlers and callbacks; a second handler for one job type is refused."""
        for item in declarations:
            if isinstance(item, JobHandler):
                if item.job_type in self.handlers:
                    raise ValueError(f"two handlers declared for job type {item.job_type!r}")
                self.register(item.job_type, item.handler, timeout=item.timeout)
            elif isinstance(item, OnCompleted):
                self.on_completed(item.job_type, item.callback)
            else:
                self.on_failed(item.job_type, item.callback)
        return self

    def missing_handlers(self, queues: Iterable[str]) -> list[str]:
        """Job types of the catalogue that go to ``queues`` (or to any queue) but have no
        handler here."""
        wanted = set(queues)
        types = {t for t, q in JOB_TYPES.items() if q in wanted} | set(ANY_QUEUE_TYPES)
        return sorted(types - set(self.handlers)) if wanted else []


class NoProviderLimits:
    """A limiter that never waits: for workers whose handlers call no rate-limited provider
    (the engine's own tests and the throughput benchmark's no-op jobs)."""

    @asynccontextmanager
    async def slot(self, provider: str, /) -> AsyncIterator[None]:
        yield

    async def penalize(self, provider: str, retry_after: float | None, /) -> None:
        return None
