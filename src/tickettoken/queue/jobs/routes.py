"""Jobs: create (one or a batch of up to 100), read, retry, cancel; thin over ``jobs.service``.

Creation takes the HTTP ``Idempotency-Key`` (``tickettoken.kit.idempotency``): a repeat of the
same request answers the first response; the job's own idempotency key (derived per type, e.g. a
payment by its order) additionally makes a second job for the same payment impossible.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from tickettoken.kit import idempotency
from tickettoken.kit.auth import Principal
from tickettoken.kit.db import DbSession, get_database
from tickettoken.kit.pagination import ok
from tickettoken.queue.access import JOB_OPERATORS, JOB_WRITERS
from tickettoken.queue.job_rules import PAYLOAD_READERS
from tickettoken.queue.jobs import service
from tickettoken.queue.jobs.schemas import JobBatch, JobCreate

router = APIRouter(prefix="/api/v1/queue/jobs", tags=["jobs"])


def _scope(principal: Principal, route: str) -> str:
    return f"queue.{route}:{principal.role.value}:{principal.sub}"


@router.post("", status_code=201, summary="Create a job")
async def create_job(
    body: JobCreate, request: Request, principal: Principal = Depends(JOB_WRITERS)
) -> JSONResponse:
    spec = service.job_spec(body, principal, "body.data")
    async with idempotency.guard(
        get_database(request),
        scope=_scope(principal, "jobs"),
        key=idempotency.key_from_header(request),
        request_hash=idempotency.fingerprint(body.model_dump(mode="json")),
    ) as call:
        if call.replay is not None:
            return JSONResponse(call.replay.body, status_code=call.replay.status)
        async with call.transaction() as session:
            job = await service.create_job(session, spec)
            status = 201 if job.created else 200
            content = ok(service.created_view(job))
            await call.complete(session, status, content)
        return JSONResponse(content, status_code=status)


@router.post("/batch", status_code=201, summary="Create up to 100 jobs, each validated alone")
async def create_batch(
    body: JobBatch, request: Request, principal: Principal = Depends(JOB_WRITERS)
) -> JSONResponse:
    results, valid = service.check_batch(body, principal)
    async with idempotency.guard(
        get_database(request),
        scope=_scope(principal, "jobs.batch"),
        key=idempotency.key_from_header(request),
        request_hash=idempotency.fingerprint(body.model_dump(mode="json")),
    ) as call:
        if call.replay is not None:
            return JSONResponse(call.replay.body, status_code=call.replay.status)
        async with call.transaction() as session:
            status, content = await service.enqueue_batch(session, results, valid)
            await call.complete(session, status, content)
        return JSONResponse(content, status_code=status)


@router.get("/{job_id}", summary="A job's state and result")
async def read_job(
    job_id: uuid.UUID,
    principal: Principal = Depends(PAYLOAD_READERS),
    *,
    session: DbSession,
) -> dict[str, Any]:
    return ok((await service.visible_job(session, job_id, principal)).to_dict())


@router.post("/{job_id}/retry", summary="Run a failed, dead or cancelled job again")
async def retry(
    job_id: uuid.UUID,
    principal: Principal = Depends(JOB_OPERATORS),
    *,
    session: DbSession,
) -> dict[str, Any]:
    return ok((await service.retry(session, job_id, principal)).to_dict())


@router.delete("/{job_id}", summary="Cancel a job that is not running")
async def cancel(
    job_id: uuid.UUID,
    principal: Principal = Depends(JOB_OPERATORS),
    *,
    session: DbSession,
) -> dict[str, Any]:
    return ok((await service.cancel(session, job_id, principal)).to_dict())
