"""What the metrics routes answer (the Prometheus exposition is text, documented on its route)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tickettoken.queue.jobs.schemas import Timestamp
from tickettoken.queue.queues.schemas import QueueName, QueueStatus


class Totals(BaseModel):
    waiting: int = Field(ge=0)
    active: int = Field(ge=0)
    failed: int = Field(ge=0, description="failed and dead jobs")
    completed_last_minute: int = Field(ge=0)
    failed_last_minute: int = Field(ge=0)


class MetricsSummary(BaseModel):
    queues: dict[str, QueueStatus]
    totals: Totals
    dead_letters: int = Field(ge=0, description="dead letters not requeued")
    unacknowledged_alerts: int = Field(ge=0)


class CompletedNow(BaseModel):
    completed_last_minute: int = Field(ge=0)


class ThroughputSample(BaseModel):
    queue: QueueName
    captured_at: Timestamp
    completed_per_minute: float = Field(ge=0)
    failure_rate: float = Field(ge=0)
    waiting: int | None = None
    active: int | None = None


class Throughput(BaseModel):
    current: dict[str, CompletedNow]
    samples: list[ThroughputSample]


class FailureGroup(BaseModel):
    """Failed and dead jobs of one queue and type; ``last_error`` is the error's kind only for
    callers without payload rights."""

    queue: QueueName
    type: str
    failures: int = Field(ge=1)
    last_failed_at: Timestamp | None = None
    last_error: str | None = None


class Failures(BaseModel):
    hours: int = Field(ge=1)
    by_type: list[FailureGroup]
