"""Queues: list with counts, one queue's status, its jobs by status, pause/resume/clear (admin);
thin over ``queues.service``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from tickettoken.kit.auth import Principal
from tickettoken.kit.contracts import AUTHENTICATED, COMMON_ERRORS, Ok, Page, errors
from tickettoken.kit.db import DbSession
from tickettoken.kit.pagination import PageParams, ok, page_params, paginated
from tickettoken.queue.access import ADMIN_ONLY, JOB_READERS, QUEUE_READERS
from tickettoken.queue.jobs.schemas import JobRead
from tickettoken.queue.queues import service
from tickettoken.queue.queues.schemas import JobStatus, QueueCleared, QueueName, QueueStatus

router = APIRouter(
    prefix="/api/v1/queue/queues", tags=["queues"], responses={**COMMON_ERRORS, **AUTHENTICATED}
)


@router.get("", summary="Every queue with its counts", response_model=Ok[list[QueueStatus]])
async def list_queues(
    _: Principal = Depends(QUEUE_READERS),
    *,
    session: DbSession,
) -> dict[str, Any]:
    return ok(await service.all_queues(session))


@router.get(
    "/{name}/status",
    summary="One queue's counts, age of the oldest job, pause state",
    response_model=Ok[QueueStatus],
)
async def queue_status(
    name: QueueName,
    _: Principal = Depends(QUEUE_READERS),
    *,
    session: DbSession,
) -> dict[str, Any]:
    return ok(await service.status(session, name))


@router.get(
    "/{name}/jobs",
    summary="A queue's jobs, newest first, optionally by status",
    response_model=Page[JobRead],
    response_model_exclude_unset=True,  # monitoring: the summary fields only
)
async def queue_jobs(
    name: QueueName,
    status: JobStatus | None = Query(None),
    page: PageParams = Depends(page_params),
    principal: Principal = Depends(JOB_READERS),
    *,
    session: DbSession,
) -> dict[str, Any]:
    jobs, total = await service.jobs_of(session, principal, name, status, page)
    return paginated(jobs, page, total)


@router.post(
    "/{name}/pause",
    summary="Stop workers from claiming this queue's jobs (admin)",
    response_model=Ok[QueueStatus],
)
async def pause(
    name: QueueName,
    principal: Principal = Depends(ADMIN_ONLY),
    *,
    session: DbSession,
) -> dict[str, Any]:
    return ok(await service.pause(session, name, principal.sub))


@router.post(
    "/{name}/resume",
    summary="Let workers claim this queue's jobs again (admin)",
    response_model=Ok[QueueStatus],
)
async def resume(
    name: QueueName,
    _: Principal = Depends(ADMIN_ONLY),
    *,
    session: DbSession,
) -> dict[str, Any]:
    return ok(await service.resume(session, name))


@router.post(
    "/{name}/clear",
    summary="Cancel this queue's waiting and delayed jobs (admin; not money)",
    response_model=Ok[QueueCleared],
    responses=errors(**{"409": "The money queue is never cleared"}),
)
async def clear(
    name: QueueName,
    _: Principal = Depends(ADMIN_ONLY),
    *,
    session: DbSession,
) -> dict[str, Any]:
    return ok(await service.clear(session, name))
