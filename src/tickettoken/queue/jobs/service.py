"""Jobs through the API: who may create which job, its data checked by its type's model
(``kit.jobs.payloads``) before anything is written, batches validated job by job, and the
single-job operations (read, retry, cancel) on jobs the caller may see.

Who may create which type and who sees payloads: ``tickettoken.queue.job_rules``. No HTTP here:
the routes hand in the caller and the session.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.kit.auth import Principal, Role
from tickettoken.kit.errors import BadRequest, Conflict, Forbidden, NotFound, ValidationFailed
from tickettoken.kit.jobs import JOB_TYPES, JobSpec, enqueue_many
from tickettoken.kit.jobs.keys import caller_scope
from tickettoken.kit.jobs.payloads import checked_spec
from tickettoken.kit.jobs.records import EnqueuedJob, JobRecord
from tickettoken.queue.engine import cancel_job, get_job, retry_job
from tickettoken.queue.job_rules import check_may_cancel, check_may_enqueue
from tickettoken.queue.jobs.schemas import JOB_CREATE, JobBatch, JobCreate


def _check_venue(principal: Principal, venue_id: str | None) -> None:
    """A venue admin acts only on jobs of their own venues; anything else is 'not found'."""
    if principal.role is not Role.VENUE_ADMIN:
        return
    if venue_id is None or venue_id not in principal.venue_ids:
        raise NotFound("Job not found")


def _check_new_job_venue(principal: Principal, venue_id: str | None) -> None:
    """A venue admin must name one of their venues for a new job (404 for other venues)."""
    if principal.role is Role.VENUE_ADMIN and venue_id is None:
        raise ValidationFailed(
            "venue_id is required", details=[{"field": "body.venue_id", "message": "required"}]
        )
    if principal.role is Role.VENUE_ADMIN and venue_id not in principal.venue_ids:
        raise NotFound("Venue not found")


def job_spec(job: JobCreate, principal: Principal, where: str) -> JobSpec:
    """The job as the engine will store it: the caller may create its type (403), its data
    fits the type's model (422), the job's venue and its data's agree (409: the request
    contradicts itself; the schema cannot say two values must be equal), and it belongs to one
    of a venue admin's venues (404)."""
    check_may_enqueue(principal, job.type)
    data = job.data
    if job.type == "generate-report":  # the requester is the caller, never what the data says
        data = {k: v for k, v in data.items() if k not in ("requested_by", "requestedBy")}
        data["requested_by"] = f"{principal.role.value}:{principal.sub}"
    spec = checked_spec(
        JobSpec(
            queue=job.queue,
            type=job.type,
            payload=data,
            priority=job.options.priority,
            delay=job.options.delay / 1000,
            max_attempts=job.options.attempts,
            idempotency_key=job.options.idempotency_key,
        ),
        where=where,
    )
    if job.venue_id is not None:  # the payload's venue (if any) became the spec's venue
        if spec.venue_id is not None and spec.venue_id != str(job.venue_id):
            raise Conflict(
                "The job's venue and its data's venue differ",
                details=[{"field": f"{where}.venue_id", "message": "differs from venue_id"}],
            )
        spec = dataclasses.replace(spec, venue_id=str(job.venue_id))
    _check_new_job_venue(principal, spec.venue_id)
    # The key is scoped to the tenant the caller acts for (the venue the data names included).
    scope = caller_scope(principal.role.value, principal.sub, spec.venue_id)
    return dataclasses.replace(spec, key_scope=scope)


def created_view(job: EnqueuedJob) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "queue": job.queue,
        "type": job.type,
        "status": job.status,
        "created": job.created,
        "idempotency_key": job.idempotency_key,
        "result": job.result,
    }


async def create_job(session: AsyncSession, spec: JobSpec) -> EnqueuedJob:
    """Enqueue one checked job; the engine's own refusals are the caller's data (422)."""
    try:
        (job,) = await enqueue_many(session, [spec])
    except BadRequest as exc:  # e.g. a payment without order or intent id
        raise ValidationFailed(
            exc.message, details=[{"field": "body.data", "message": exc.message}]
        ) from exc
    return job


def _validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors():
        loc = err["loc"]
        if loc and loc[0] in JOB_TYPES:  # the variant's tag: the job type the caller named
            loc = loc[1:]
        details.append({"field": ".".join(str(p) for p in loc), "message": err["msg"]})
    return details


def check_batch(
    body: JobBatch, principal: Principal
) -> tuple[list[dict[str, Any]], list[tuple[int, JobSpec]]]:
    """Each job of the batch validated alone: the refusals by index, and the jobs to enqueue."""
    results: list[dict[str, Any]] = [{} for _ in body.jobs]
    valid: list[tuple[int, JobSpec]] = []
    for index, raw in enumerate(body.jobs):
        if body.queue is not None:  # the original's {queue, jobs: [{type, data, options}]}
            raw = {"queue": body.queue, **raw}
        try:
            job = JOB_CREATE.validate_python(raw)
            spec = job_spec(job, principal, f"jobs.{index}.data")
        except ValidationError as exc:
            results[index] = {
                "index": index,
                "success": False,
                "code": "VALIDATION_ERROR",
                "error": "invalid job",
                "message": "invalid job",
                "details": _validation_details(exc),
            }
            continue
        except (Conflict, Forbidden, NotFound, ValidationFailed) as exc:
            results[index] = {
                "index": index,
                "success": False,
                "code": exc.code,
                "error": exc.message,
                "message": exc.message,
            }
            if exc.details:
                results[index]["details"] = exc.details
            continue
        valid.append((index, spec))
    return results, valid


async def enqueue_batch(
    session: AsyncSession, results: list[dict[str, Any]], valid: list[tuple[int, JobSpec]]
) -> tuple[int, dict[str, Any]]:
    """Enqueue the valid jobs of a batch; the status and body that answer the whole batch."""
    # One by one inside savepoints so that one job's refusal by the engine (e.g. a payment
    # without an order id) does not undo the others.
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
                "message": exc.message,
            }
            continue
        results[index] = {"index": index, "success": True, "job": created_view(enqueued)}
    succeeded = sum(1 for r in results if r["success"])
    if succeeded:
        data = {
            "total": len(results),
            "succeeded": succeeded,
            "failed": len(results) - succeeded,
            "results": results,
        }
        return 201, {"success": True, "data": data}
    codes = {r["code"] for r in results}
    if codes == {"FORBIDDEN"}:
        return 403, {
            "success": False,
            "error": "Your role may not create these jobs",
            "code": "FORBIDDEN",
            "details": results,
        }
    # No job was taken: the answer of the most telling refusal (invalid data first).
    code, status, message = next(
        (refusal for refusal in _BATCH_REFUSALS if refusal[0] in codes), _BATCH_REFUSALS[0]
    )
    return status, {"success": False, "error": message, "code": code, "details": results}


_BATCH_REFUSALS = (
    ("VALIDATION_ERROR", 422, "No job in the batch was valid"),
    ("CONFLICT", 409, "Every job of the batch contradicts itself"),
    ("NOT_FOUND", 404, "No job of the batch names a venue of yours"),
)


async def visible_job(session: AsyncSession, job_id: uuid.UUID, principal: Principal) -> JobRecord:
    job = await get_job(session, str(job_id))
    if job is None:
        raise NotFound("Job not found")
    _check_venue(principal, job.venue_id)
    return job


async def retry(session: AsyncSession, job_id: uuid.UUID, principal: Principal) -> JobRecord:
    await visible_job(session, job_id, principal)
    return await retry_job(session, str(job_id))


async def cancel(session: AsyncSession, job_id: uuid.UUID, principal: Principal) -> JobRecord:
    job = await visible_job(session, job_id, principal)
    check_may_cancel(job.type)
    return await cancel_job(session, str(job_id))
