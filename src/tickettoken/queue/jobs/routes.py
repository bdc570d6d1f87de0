"""Jobs: create (one or a batch of up to 100), read, retry, cancel; thin over ``jobs.service``.

Creation takes the HTTP ``Idempotency-Key`` (``tickettoken.kit.idempotency``): a repeat of the
same request answers the first response; the job's own idempotency key (derived per type, e.g. a
payment by its order) additionally makes a second job for the same payment impossible.

``{job_id:uuid}`` in the paths: only a UUID reaches these routes, so ``GET /jobs/batch`` is the
405 of the batch route (``Allow: POST``), not a 422 of ``GET /jobs/{job_id}``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse

from tickettoken.kit.auth import Principal
from tickettoken.kit.contracts import AUTHENTICATED, COMMON_ERRORS, Ok, errors
from tickettoken.kit.db import DbSession
from tickettoken.kit.idempotency import Idempotent, idempotent
from tickettoken.kit.pagination import ok
from tickettoken.queue.access import JOB_OPERATORS, JOB_WRITERS
from tickettoken.queue.job_rules import PAYLOAD_READERS
from tickettoken.queue.jobs import service
from tickettoken.queue.jobs.schemas import (
    KEY_PATTERN,
    AnyJobCreate,
    BatchOutcome,
    JobBatch,
    JobCreated,
    JobRead,
)

router = APIRouter(
    prefix="/api/v1/queue/jobs", tags=["jobs"], responses={**COMMON_ERRORS, **AUTHENTICATED}
)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=KEY_PATTERN,
        description="a repeat with the same key and body answers the first response",
    ),
]


@router.post(
    "",
    status_code=201,
    summary="Create a job",
    response_model=Ok[JobCreated],
    responses={
        200: {"model": Ok[JobCreated], "description": "A job with this key exists: that job"},
        **errors(
            400,
            404,
            **{
                "409": "Idempotency-Key reused with another body or still running, or the"
                " job's venue and its data's venue differ"
            },
        ),
    },
)
async def create_job(
    body: AnyJobCreate,
    session: DbSession,
    principal: Annotated[Principal, Depends(JOB_WRITERS)],
    idem: Annotated[Idempotent, idempotent("queue.jobs")],
    _key: IdempotencyKey = None,
) -> JSONResponse:
    if idem.replay is not None:
        return idem.replayed()
    spec = service.job_spec(body, principal, "body.data")
    job = await service.create_job(session, spec)
    return await idem.respond(201 if job.created else 200, ok(service.created_view(job)))


@router.post(
    "/batch",
    status_code=201,
    summary="Create up to 100 jobs, each validated alone",
    response_model=Ok[BatchOutcome],
    responses=errors(
        400,
        **{
            "403": "The caller's role may create none of these jobs (details: each job)",
            "404": "No job names a venue of the caller's (details: each job)",
            "409": "Idempotency-Key reused with another body or still running, or every job"
            " contradicts itself (details: each job)",
            "422": "The body, or a job, failed validation and none was taken (details: each)",
        },
    ),
)
async def create_batch(
    body: JobBatch,
    session: DbSession,
    principal: Annotated[Principal, Depends(JOB_WRITERS)],
    idem: Annotated[Idempotent, idempotent("queue.jobs.batch")],
    _key: IdempotencyKey = None,
) -> JSONResponse:
    if idem.replay is not None:
        return idem.replayed()
    results, valid = service.check_batch(body, principal)
    status, content = await service.enqueue_batch(session, results, valid)
    return await idem.respond(status, content)


@router.get(
    "/{job_id:uuid}",
    summary="A job's state and result",
    response_model=Ok[JobRead],
    responses=errors(404),
)
async def read_job(
    job_id: uuid.UUID,
    principal: Principal = Depends(PAYLOAD_READERS),
    *,
    session: DbSession,
) -> dict[str, Any]:
    return ok((await service.visible_job(session, job_id, principal)).to_dict())


@router.post(
    "/{job_id:uuid}/retry",
    summary="Run a failed, dead or cancelled job again",
    response_model=Ok[JobRead],
    responses=errors(404, **{"409": "The job is waiting, running or completed"}),
)
async def retry(
    job_id: uuid.UUID,
    principal: Principal = Depends(JOB_OPERATORS),
    *,
    session: DbSession,
) -> dict[str, Any]:
    return ok((await service.retry(session, job_id, principal)).to_dict())


@router.delete(
    "/{job_id:uuid}",
    summary="Cancel a job that is not running",
    response_model=Ok[JobRead],
    responses=errors(404, **{"409": "A money job, or a job that is running or finished"}),
)
async def cancel(
    job_id: uuid.UUID,
    principal: Principal = Depends(JOB_OPERATORS),
    *,
    session: DbSession,
) -> dict[str, Any]:
    return ok((await service.cancel(session, job_id, principal)).to_dict())
