"""What the dead-letter routes answer."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tickettoken.queue.jobs.schemas import Timestamp, UuidText
from tickettoken.queue.queues.schemas import QueueName


class DeadLetterRead(BaseModel):
    """A job that exhausted its attempts. Without payload rights (``monitoring``): no payload,
    idempotency key or error text (``job_rules.visible``)."""

    id: UuidText
    queue: QueueName
    job_id: UuidText | None = None
    type: str
    attempts: int = Field(ge=0)
    venue_id: UuidText | None = None
    failed_at: Timestamp
    requeued_at: Timestamp | None = None
    payload: dict[str, object] | None = None
    last_error: str | None = None
    idempotency_key: str | None = None
