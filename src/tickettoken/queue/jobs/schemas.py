"""Bodies and answers of the job routes (SPEC section 6), as strict in the OpenAPI as in code.

A job to create is one variant per job type (``type`` is the discriminator): the variant fixes
the type's queue (``queue`` may be left out: the type decides it) and documents its ``data`` with
the schema of the type's payload model (``kit.jobs.payload_schemas``). The data itself is
validated by that model in the service (``kit.jobs.payloads.checked_spec``), after the caller's
right to create the type (403 first: a role that may not create money jobs learns nothing about
their payloads). Priority 1-10, delay 0 ms to a year, attempts 1-100, a venue id that is a UUID,
a job key of the engine's characters; ``delay`` is in milliseconds, as in the original service
(Bull's ``delay``). Every body is a ``RequestModel``: unknown fields and text PostgreSQL cannot
store (NUL, lone surrogates) are 422.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    WithJsonSchema,
    create_model,
    field_validator,
)

from tickettoken.kit.jobs.catalog import JOB_TYPES
from tickettoken.kit.jobs.payload_schemas import payload_schema
from tickettoken.kit.jobs.payloads import JSON_INTEGER, JsonInt
from tickettoken.kit.schema_types import RequestModel
from tickettoken.queue.queues.schemas import JobStatus, QueueName

MAX_BATCH = 100
MAX_DATA_BYTES = 64 * 1024
MAX_DELAY_MS = 365 * 86_400 * 1000
KEY_PATTERN = r"^[A-Za-z0-9:_.@/+=\-]+$"


class JobOptions(RequestModel):
    priority: JsonInt = Field(5, ge=1, le=10, description="1 is the highest priority, 10 lowest")
    delay: JsonInt = Field(0, ge=0, le=MAX_DELAY_MS, description="milliseconds before it may run")
    attempts: Annotated[int, Field(ge=1, le=100), JSON_INTEGER] | None = Field(
        None, description="default: the queue's policy"
    )
    idempotency_key: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        pattern=KEY_PATTERN,
        description="the job's own key; default derived per type (payment: order/intent)",
    )


class JobCreate(RequestModel):
    """What every job variant has; ``queue``, ``type`` and ``data`` are fixed per variant."""

    queue: QueueName
    type: str
    data: dict[str, Any] = Field(default_factory=dict)
    venue_id: uuid.UUID | None = Field(None, description="the venue the job belongs to")
    options: JobOptions = Field(default_factory=JobOptions)

    @field_validator("data")
    @classmethod
    def _data_size(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value, default=str)) > MAX_DATA_BYTES:
            raise ValueError(f"data must be at most {MAX_DATA_BYTES} bytes of JSON")
        return value


# Fields of a type's data that the service sets itself, whatever the request says: documented as
# accepted and ignored, so the schema does not promise a check the route never makes.
SET_BY_THE_SERVICE = {"generate-report": "requestedBy"}


def request_data_schema(job_type: str) -> dict[str, Any]:
    """The data a request may send for ``job_type``: the payload's schema, with the fields the
    service sets itself (``SET_BY_THE_SERVICE``) left free."""
    schema = payload_schema(job_type)
    field = SET_BY_THE_SERVICE.get(job_type)
    if field is None:
        return schema
    ignored = {"description": "Ignored: the service records the caller as the requester"}
    return {**schema, "properties": {**schema["properties"], field: ignored}}


def _variant(job_type: str, queue: str) -> type[JobCreate]:
    name = "".join(part.title() for part in job_type.split("-")) + "JobCreate"
    schema = request_data_schema(job_type)
    data_type = Annotated[dict[str, Any], WithJsonSchema(schema)]
    # Data is required where the type's payload has required fields (an empty object would
    # be refused); otherwise it may be left out.
    needed = bool(schema.get("required") or schema.get("oneOf"))
    return create_model(
        name,
        __base__=JobCreate,
        queue=(Literal[queue], queue),  # type: ignore[arg-type]
        type=(Literal[job_type], ...),  # type: ignore[arg-type]
        data=(data_type, ... if needed else Field(default_factory=dict)),
    )


JOB_VARIANTS: dict[str, type[JobCreate]] = {t: _variant(t, q) for t, q in JOB_TYPES.items()}

if TYPE_CHECKING:
    AnyJobCreate = JobCreate
else:
    AnyJobCreate = Annotated[Union[tuple(JOB_VARIANTS.values())], Field(discriminator="type")]  # noqa: UP007

JOB_CREATE: TypeAdapter[JobCreate] = TypeAdapter(AnyJobCreate)


def _job_schema(job_type: str, queue: str) -> dict[str, Any]:
    """One job of a batch as JSON schema (the same shape as the variant of ``POST /jobs``)."""
    data = request_data_schema(job_type)
    required = ["type", "data"] if data.get("required") or data.get("oneOf") else ["type"]
    return {
        "type": "object",
        "properties": {
            "queue": {"const": queue, "type": "string"},
            "type": {"const": job_type, "type": "string"},
            "data": data,
            "venue_id": {"anyOf": [{"type": "string", "format": "uuid"}, {"type": "null"}]},
            "options": TypeAdapter(JobOptions).json_schema(),
        },
        "required": required,
        "additionalProperties": False,
    }


def _batch_schema(schema: dict[str, Any]) -> None:
    """The batch as it is read: without ``queue``, any job; with it, only that queue's jobs
    (each of which may then leave its own ``queue`` out)."""

    def jobs(queues: set[str]) -> dict[str, Any]:
        items = [_job_schema(t, q) for t, q in JOB_TYPES.items() if q in queues]
        return {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": {"oneOf": items}}

    every = set(JOB_TYPES.values())
    shapes: list[dict[str, Any]] = [
        {
            "type": "object",
            "properties": {"jobs": jobs(every)},
            "required": ["jobs"],
            "additionalProperties": False,
        }
    ]
    for queue in sorted(every):
        shapes.append(
            {
                "type": "object",
                "properties": {"queue": {"const": queue, "type": "string"}, "jobs": jobs({queue})},
                "required": ["queue", "jobs"],
                "additionalProperties": False,
            }
        )
    description = schema.get("description")
    schema.clear()
    schema.update({"title": "JobBatch", "oneOf": shapes})
    if description:
        schema["description"] = description


class JobBatch(RequestModel):
    """Up to 100 jobs; each is validated on its own and answered with its own result.

    ``queue`` is the original service's batch shape, ``{queue, jobs: [{type, data, options}]}``:
    the queue of every job that does not name its own."""

    model_config = ConfigDict(json_schema_extra=lambda schema, _: _batch_schema(schema))

    queue: QueueName | None = None
    jobs: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH)


# ---- answers ---------------------------------------------------------------------------------

JobType = Annotated[str, WithJsonSchema({"type": "string", "enum": sorted(JOB_TYPES)})]
# Answers carry ids and times as the records give them (text); the schema names their format.
UuidText = Annotated[str, WithJsonSchema({"type": "string", "format": "uuid"})]
Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


class JobCreated(BaseModel):
    job_id: UuidText
    queue: QueueName
    type: JobType
    status: JobStatus
    created: bool = Field(description="false: a job with this key existed; it is answered")
    idempotency_key: str
    result: dict[str, Any] | None = None


class JobRead(BaseModel):
    """A job. Callers without payload rights (``monitoring``) get the summary fields only:
    no payload, result, idempotency key or error text (``job_rules.visible``)."""

    job_id: UuidText
    queue: QueueName
    type: str
    status: JobStatus
    priority: int = Field(ge=1, le=10)
    attempts: int = Field(ge=0)
    max_attempts: int = Field(ge=1)
    venue_id: UuidText | None = None
    run_at: Timestamp
    created_at: Timestamp
    updated_at: Timestamp
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    payload: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    last_error: str | None = None
    idempotency_key: str | None = None
    locked_by: str | None = None
    locked_until: Timestamp | None = None


class BatchJobResult(BaseModel):
    """One job of a batch: created (``job``) or refused (``code``, ``error``, ``details``)."""

    index: int = Field(ge=0)
    success: bool
    job: JobCreated | None = None
    code: str | None = None
    error: str | None = None
    message: str | None = None
    details: list[dict[str, Any]] | None = None


class BatchOutcome(BaseModel):
    total: int = Field(ge=1, le=MAX_BATCH)
    succeeded: int = Field(ge=0)
    failed: int = Field(ge=0)
    results: list[BatchJobResult]
