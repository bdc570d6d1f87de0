"""Jobs: create (one or a batch of up to 100), read, retry, cancel.

Who may create which type, and who sees payloads: ``tickettoken.queue.job_rules``. Every job's
data is validated by its type's model (``kit.jobs.payloads``) before anything is written.
Creation takes the HTTP ``Idempotency-Key`` (``tickettoken.kit.idempotency``): a repeat of the
same request answers the first response; the job's own idempotency key (derived per type, e.g. a
payment by its order) additionally makes a second job for the same payment impossible.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.kit import idempotency
from tickettoken.kit.auth import Principal, Role
from tickettoken.kit.db import DbSession, get_database
from tickettoken.kit.errors import BadRequest, Forbidden, NotFound, ValidationFailed
from tickettoken.kit.jobs import JobSpec, enqueue_many
from tickettoken.kit.jobs.keys import caller_scope
from tickettoken.kit.jobs.payloads import checked_spec
from tickettoken.kit.jobs.records import EnqueuedJob, JobRecord
from tickettoken.kit.pagination import ok
from tickettoken.queue.access import JOB_OPERATORS, JOB_WRITERS
from tickettoken.queue.engine import cancel_job, get_job, retry_job
from tickettoken.queue.job_rules import PAYLOAD_READERS, check_may_cancel, check_may_enqueue
from tickettoken.queue.schemas import JobBatch, JobCreate

router = APIRouter(prefix="/api/v1/queue/jobs", tags=["jobs"])


def _check_venue(principal: Principal, venue_id: str | None) -> None:
    """A venue admin acts only on jobs of their own venues; anything else is 'not found'."""
    if principal.role is not Role.VENUE_ADMIN:
        return
    if venue_id is None:
        raise NotFound("Job not found")
    if venue_id not in principal.venue_ids:
        raise NotFound("Job not found")


def _check_new_job_venue(principal: Principal, venue_id: str | None) -> None:
    """A venue admin must name one of their venues for a new job (404 for other venues)."""
    if principal.role is Role.VENUE_ADMIN and venue_id is None:
        raise ValidationFailed(
            "venue_id is required", details=[{"field": "body.venue_id", "message": "required"}]
        )
    if principal.role is Role.VENUE_ADMIN and venue_id not in principal.venue_ids:
        raise NotFound("Venue not found")


def _spec(job: JobCreate, principal: Principal, where: str) -> JobSpec:
    """The job as the engine will store it: the caller may create its type (403), its data
    fits the type's model (422), and it belongs to one of a venue admin's venues (404)."""
    check_may_enqueue(principal, job.type)
    data = job.data
    if job.type == "generate-report":  # the requester is the caller, never what the data says
        data = {**data, "requested_by": f"{principal.role.value}:{principal.sub}"}
    spec = checked_spec(
        JobSpec(
            queue=job.queue,
            type=job.type,
            payload=data,
            priority=job.options.priority,
            delay=job.options.delay / 1000,
            max_attempts=job.options.attempts,
            idempotency_key=job.options.idempotency_key,
            venue_id=job.venue_id,
        ),
        where=where,
    )
    _check_new_job_venue(principal, spec.venue_id)
    # The key is scoped to the tenant the caller acts for (the venue the data names included).
    scope = caller_scope(principal.role.value, principal.sub, spec.venue_id)
    return dataclasses.replace(spec, key_scope=scope)


def _created(job: EnqueuedJob) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "queue": job.queue,
        "type": job.type,
        "status": job.status,
        "created": job.created,
        "idempotency_key": job.idempotency_key,
        "result": job.result,
    }


def _scope(principal: Principal, route: str) -> str:
    return f"queue.{route}:{principal.role.value}:{principal.sub}"


@router.post("", status_code=201, summary="Create a job")
async def create_job(
    body: JobCreate, request: Request, principal: Principal = Depends(JOB_WRITERS)
) -> JSONResponse:
    spec = _spec(body, principal, "body.data")
    database = get_database(request)
    async with idempotency.guard(
        database,
        scope=_scope(principal, "jobs"),
        key=idempotency.key_from_header(request),
        request_hash=idempotency.fingerprint(body.model_dump(mode="json")),
    ) as call:
        if call.replay is not None:
            return JSONResponse(call.replay.body, status_code=call.replay.status)
        async with call.transaction() as session:
            try:
                (job,) = await enqueue_many(session, [spec])
            except BadRequest as exc:  # e.g. a payment without order or intent id
                raise ValidationFailed(
                    exc.message, details=[{"field": "body.data", "message": exc.message}]
                ) from exc
            status = 201 if job.created else 200
            content = ok(_created(job))
            await call.complete(session, status, content)
        return JSONResponse(content, status_code=status)


def _validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
        for err in exc.errors()
    ]


@router.post("/batch", status_code=201, summary="Create up to 100 jobs, each validated alone")
async def create_batch(
    body: JobBatch, request: Request, principal: Principal = Depends(JOB_WRITERS)
) -> JSONResponse:
    database = get_database(request)
    results: list[dict[str, Any]] = [{} for _ in body.jobs]
    valid: list[tuple[int, JobSpec]] = []
    for index, raw in enumerate(body.jobs):
        if body.queue is not None:  # the original's {queue, jobs: [{type, data, options}]}
            raw = {"queue": body.queue, **raw}
        try:
            job = JobCreate.model_validate(raw)
            spec = _spec(job, principal, f"jobs.{index}.data")
        except ValidationError as exc:
            results[index] = {
                "index": index,
                "success": False,
                "code": "VALIDATION_ERROR",
                "error": "invalid job",
                "details": _validation_details(exc),
            }
            continue
        except (Forbidden, NotFound, ValidationFailed) as exc:
            results[index] = {
                "index": index,
                "success": False,
                "code": exc.code,
                "error": exc.message,
            }
            if exc.details:
                results[index]["details"] = exc.details
            continue
        valid.append((index, spec))
    async with idempotency.guard(
        database,
        scope=_scope(principal, "jobs.batch"),
        key=idempotency.key_from_header(request),
        request_hash=idempotency.fingerprint(body.model_dump(mode="json")),
    ) as call:
        if call.replay is not None:
            return JSONResponse(call.replay.body, status_code=call.replay.status)
        async with call.transaction() as session:
            # Enqueue one by one inside savepoints so that one job's refusal by the engine
            # (e.g. a payment without an order id) does not undo the others.
            for index, spec in valid:
                try:
                    async with session.begin_nested():
                        (enqueued,) = await enqueue_many(session, [spec])
                except BadRequest as exc:
                    results[index] = {
                        "index": index,
                        "success": False,
                        "code": "VALIDATION_ERROR",
                        "error": exc.message,
                    }
                    continue
                results[index] = {"index": index, "success": True, "job": _created(enqueued)}
            succeeded = sum(1 for r in results if r["success"])
            data = {
                "total": len(results),
                "succeeded": succeeded,
                "failed": len(results) - succeeded,
                "results": results,
            }
            if succeeded:
                status, content = 201, ok(data)
            elif all(r["code"] == "FORBIDDEN" for r in results):
                status = 403
                content = {
                    "success": False,
                    "error": "Your role may not create these jobs",
                    "code": "FORBIDDEN",
                    "details": results,
                }
            else:
                status = 422
                content = {
                    "success": False,
                    "error": "No job in the batch was valid",
                    "code": "VALIDATION_ERROR",
                    "details": results,
                }
            await call.complete(session, status, content)
        return JSONResponse(content, status_code=status)


async def _visible_job(session: AsyncSession, job_id: uuid.UUID, principal: Principal) -> JobRecord:
    job = await get_job(session, str(job_id))
    if job is None:
        raise NotFound("Job not found")
    _check_venue(principal, job.venue_id)
    return job


@router.get("/{job_id}", summary="A job's state and result")
async def read_job(
    job_id: uuid.UUID,
    principal: Principal = Depends(PAYLOAD_READERS),
    *,
    session: DbSession,
) -> dict[str, Any]:
    return ok((await _visible_job(session, job_id, principal)).to_dict())


@router.post("/{job_id}/retry", summary="Run a failed, dead or cancelled job again")
async def retry(
    job_id: uuid.UUID,
    principal: Principal = Depends(JOB_OPERATORS),
    *,
    session: DbSession,
) -> dict[str, Any]:
    await _visible_job(session, job_id, principal)
    return ok((await retry_job(session, str(job_id))).to_dict())


@router.delete("/{job_id}", summary="Cancel a job that is not running")
async def cancel(
    job_id: uuid.UUID,
    principal: Principal = Depends(JOB_OPERATORS),
    *,
    session: DbSession,
) -> dict[str, Any]:
    job = await _visible_job(session, job_id, principal)
    check_may_cancel(job.type)
    return ok((await cancel_job(session, str(job_id))).to_dict())
