"""The worker's registry: job type -> handler, plus the callbacks run when a job of a type
completes or fails, filled from the declarations of the service table
(``tickettoken.kit.jobs.declarations``, listed in ``tickettoken.services``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from tickettoken.kit.jobs.catalog import ANY_QUEUE_TYPES, JOB_TYPES
from tickettoken.kit.jobs.declarations import (
    DEFAULT_TIMEOUT,
    CompletedCallback,
    FailedCallback,
    Handler,
    JobDeclaration,
    JobHandler,
    OnCompleted,
)


@dataclass(frozen=True)
class HandlerEntry:
    handler: Handler
    timeout: float


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
