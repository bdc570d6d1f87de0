"""Running one job: the handler call, its timeout, and classifying what went wrong.

Retryable (back off and try again): timeouts, connection errors, HTTP 429 and 5xx, a
``RetryableJobError``, any ``TimeoutError`` (also the rate limiter's bounded wait). Everything
else fails the job at once: retrying a declined card or a malformed payload changes nothing.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from tickettoken.kit.jobs.catalog import Backoff
from tickettoken.kit.jobs.declarations import JobContext, PermanentJobError, RetryableJobError
from tickettoken.queue.engine.metrics import JOB_DURATION
from tickettoken.queue.engine.registry import JobRegistry
from tickettoken.queue.engine.store import ClaimedJob

OutcomeKind = Literal["completed", "retry", "failed", "dead", "release"]
MAX_ERROR_LENGTH = 2000


@dataclass
class Outcome:
    job: ClaimedJob
    kind: OutcomeKind
    result: dict[str, Any] | None = None
    error: str | None = None
    delay: float = 0.0


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def classify(exc: BaseException) -> tuple[bool, str, float | None]:
    """(retryable, message, retry_after seconds) for an exception a handler raised."""
    message = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
    if isinstance(exc, RetryableJobError):
        return True, message, exc.retry_after
    if isinstance(exc, PermanentJobError):
        return False, message, None
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        if status == 429 or status >= 500:
            return True, message, _retry_after(exc.response)
        return False, message, None
    if isinstance(exc, httpx.TimeoutException | httpx.TransportError | TimeoutError):
        return True, message, None
    if isinstance(exc, ConnectionError | OSError):
        return True, message, None
    return False, message, None


def failure(job: ClaimedJob, retryable: bool, message: str, retry_after: float | None) -> Outcome:
    record = job.record
    if not retryable:
        return Outcome(job, "failed", error=message)
    if record.attempts >= record.max_attempts:
        return Outcome(job, "dead", error=f"attempts exhausted ({record.attempts}): {message}")
    delay = Backoff.from_json(job.backoff).delay_after(record.attempts)
    return Outcome(job, "retry", error=message, delay=max(delay, retry_after or 0.0))


async def execute(job: ClaimedJob, registry: JobRegistry, context: JobContext) -> Outcome:
    """Run a claimed job and say what to record. Cancellation propagates (shutdown)."""
    record = job.record
    if job.stored_result is not None:
        return Outcome(job, "completed", result=job.stored_result)
    entry = registry.handlers.get(record.type)
    if entry is None:
        return Outcome(job, "failed", error=f"no handler registered for job type {record.type!r}")
    started = time.perf_counter()
    try:
        async with asyncio.timeout(entry.timeout):
            result = await entry.handler(context)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return failure(job, *classify(exc))
    finally:
        JOB_DURATION.labels(record.queue, record.type).observe(time.perf_counter() - started)
    if not isinstance(result, dict):
        return Outcome(job, "failed", error="handler returned no result object")
    return Outcome(job, "completed", result=result)
