"""Queues: list with counts, one queue's status, its jobs by status, pause/resume/clear (admin).

``clear`` acts on one named queue and only on its jobs that have not started (waiting and
delayed), which it cancels rather than deletes (``monitoring.repository.cancel_waiting``); the
money queue is never cleared (``job_rules``). Monitoring sees job summaries, not payloads.
No route flushes Redis or wipes shared state wholesale (AUDIT: unauthenticated cache flush).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.kit.auth import Principal, Role
from tickettoken.kit.db import DbSession
from tickettoken.kit.errors import Conflict
from tickettoken.kit.pagination import PageParams, ok, page_params, paginated
from tickettoken.queue.access import ADMIN_ONLY, JOB_READERS, QUEUE_READERS
from tickettoken.queue.engine import list_jobs, pause_queue, queue_counts, resume_queue
from tickettoken.queue.job_rules import visible
from tickettoken.queue.monitoring import gauges
from tickettoken.queue.monitoring.repository import cancel_waiting
from tickettoken.queue.schemas import QueueName

router = APIRouter(prefix="/api/v1/queue/queues", tags=["queues"])

JobStatus = Literal["queued", "active", "completed", "failed", "cancelled", "dead"]


async def _status(session: AsyncSession, name: str) -> dict[str, Any]:
    counts = (await queue_counts(session))[name]
    data = counts.to_dict()
    data["failure_rate"] = gauges.failure_rate(counts)
    return data


@router.get("", summary="Every queue with its counts")
async def list_queues(
    _: Principal = Depends(QUEUE_READERS),
    *,
    session: DbSession,
) -> dict[str, Any]:
    counts = await queue_counts(session)
    gauges.update(counts)
    return ok([c.to_dict() | {"failure_rate": gauges.failure_rate(c)} for c in counts.values()])


@router.get("/{name}/status", summary="One queue's counts, age of the oldest job, pause state")
async def queue_status(
    name: QueueName,
    _: Principal = Depends(QUEUE_READERS),
    *,
    session: DbSession,
) -> dict[str, Any]:
    return ok(await _status(session, name))


@router.get("/{name}/jobs", summary="A queue's jobs, newest first, optionally by status")
async def queue_jobs(
    name: QueueName,
    status: JobStatus | None = Query(None),
    page: PageParams = Depends(page_params),
    principal: Principal = Depends(JOB_READERS),
    *,
    session: DbSession,
) -> dict[str, Any]:
    venues = sorted(principal.venue_ids) if principal.role is Role.VENUE_ADMIN else None
    jobs, total = await list_jobs(
        session, name, status, page=page.page, limit=page.limit, venue_ids=venues
    )
    return paginated([visible(principal, j.to_dict()) for j in jobs], page, total)


@router.post("/{name}/pause", summary="Stop workers from claiming this queue's jobs (admin)")
async def pause(
    name: QueueName,
    principal: Principal = Depends(ADMIN_ONLY),
    *,
    session: DbSession,
) -> dict[str, Any]:
    await pause_queue(session, name, by=principal.sub)
    return ok(await _status(session, name))


@router.post("/{name}/resume", summary="Let workers claim this queue's jobs again (admin)")
async def resume(
    name: QueueName,
    _: Principal = Depends(ADMIN_ONLY),
    *,
    session: DbSession,
) -> dict[str, Any]:
    await resume_queue(session, name)
    return ok(await _status(session, name))


@router.post(
    "/{name}/clear", summary="Cancel this queue's waiting and delayed jobs (admin; not money)"
)
async def clear(
    name: QueueName,
    _: Principal = Depends(ADMIN_ONLY),
    *,
    session: DbSession,
) -> dict[str, Any]:
    if name == "money":  # job_rules.check_may_cancel: a money job's outcome is the provider's
        raise Conflict("The money queue cannot be cleared; pause it instead")
    cancelled = await cancel_waiting(session, name)
    return ok({"queue": name, "cancelled": cancelled})
