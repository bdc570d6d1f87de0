"""Names of the queues and job states as every queue route accepts them, and what the queue
routes answer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

QueueName = Literal["money", "communication", "background"]
JobStatus = Literal["queued", "active", "completed", "failed", "cancelled", "dead"]


class QueueStatus(BaseModel):
    """A queue now: depths, failed and dead jobs waiting for an administrator, recent finishes."""

    queue: QueueName
    waiting: int = Field(ge=0)
    delayed: int = Field(ge=0)
    active: int = Field(ge=0)
    failed: int = Field(ge=0)
    dead: int = Field(ge=0)
    paused: bool
    oldest_waiting_seconds: float | None = Field(None, ge=0)
    completed_last_minute: int = Field(ge=0)
    failed_last_minute: int = Field(ge=0)
    failed_last_10_minutes: int = Field(ge=0)
    failure_rate: float = Field(ge=0, le=1)


class QueueCleared(BaseModel):
    queue: QueueName
    cancelled: int = Field(ge=0, description="waiting and delayed jobs now cancelled")
