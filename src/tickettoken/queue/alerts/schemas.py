"""Bodies of the alert routes."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tickettoken.kit.schema_types import RequestModel
from tickettoken.queue.alerts.rules import Severity
from tickettoken.queue.jobs.schemas import Timestamp, UuidText


class AlertTest(RequestModel):
    severity: Severity = "info"
    # Surrounding spaces are trimmed: a letter or digit keeps the message from being empty.
    message: str = Field(
        "Test alert from the queue service", min_length=1, max_length=500, pattern="[A-Za-z0-9]"
    )


class AlertRead(BaseModel):
    id: UuidText
    severity: Severity
    type: str
    message: str
    queue: str | None = None
    value: float | None = None
    threshold: float | None = None
    acknowledged: bool
    acknowledged_by: str | None = None
    acknowledged_at: Timestamp | None = None
    created_at: Timestamp


class AlertSent(BaseModel):
    id: UuidText
    channels: dict[str, str] = Field(description='channel -> "sent" or why it failed')
