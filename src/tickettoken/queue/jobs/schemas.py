"""Request bodies of the job routes (SPEC section 6), validated before anything is written.

Everything the engine would refuse is refused here first with 422 and a field-level detail:
unknown queue or type, a type sent to another queue, priority outside 1-10, negative delay,
attempts outside 1-100, a venue id that is not a UUID, a job key of the wrong characters.
``delay`` is in milliseconds, as in the original service (Bull's ``delay``).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tickettoken.kit.jobs.catalog import JOB_TYPES
from tickettoken.queue.queues.schemas import QueueName

MAX_BATCH = 100
MAX_DATA_BYTES = 64 * 1024
MAX_DELAY_MS = 365 * 86_400 * 1000


class JobOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    priority: int = Field(5, ge=1, le=10, description="1 is the highest priority, 10 the lowest")
    delay: int = Field(0, ge=0, le=MAX_DELAY_MS, description="milliseconds before it may run")
    attempts: int | None = Field(None, ge=1, le=100, description="default: the queue's policy")
    idempotency_key: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        pattern=r"^[A-Za-z0-9:_.@/+=\-]+$",
        description="the job's own key; default derived per type (payment: order/intent)",
    )


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue: QueueName
    type: str = Field(min_length=1, max_length=64)
    data: dict[str, Any] = Field(default_factory=dict)
    venue_id: str | None = Field(None, description="the venue the job belongs to (UUID)")
    options: JobOptions = Field(default_factory=JobOptions)

    @field_validator("venue_id")
    @classmethod
    def _venue_is_uuid(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                return str(uuid.UUID(value))
            except ValueError:
                raise ValueError("venue_id must be a UUID") from None
        return value

    @field_validator("data")
    @classmethod
    def _data_size(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value, default=str)) > MAX_DATA_BYTES:
            raise ValueError(f"data must be at most {MAX_DATA_BYTES} bytes of JSON")
        return value

    @model_validator(mode="after")
    def _type_fits_queue(self) -> JobCreate:
        expected = JOB_TYPES.get(self.type)
        if expected is None:
            raise ValueError(f"unknown job type {self.type!r}; one of {', '.join(JOB_TYPES)}")
        if expected != self.queue:
            raise ValueError(f"job type {self.type!r} belongs to the {expected!r} queue")
        return self


class JobBatch(BaseModel):
    """Up to 100 jobs; each is validated on its own and answered with its own result.

    ``queue`` is the original service's batch shape, ``{queue, jobs: [{type, data, options}]}``:
    the queue of every job that does not name its own."""

    model_config = ConfigDict(extra="forbid")

    queue: QueueName | None = None
    jobs: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH)
