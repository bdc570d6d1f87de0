"""Answers of the health routes (no token, key or secret: codes, times and counts only)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from tickettoken.integrations.connections.schemas import ConnectionStatus, ProviderName
from tickettoken.integrations.health.rules import HealthStatus

Period = Literal["24h", "7d", "30d"]


class HealthView(BaseModel):
    provider: ProviderName
    venue_id: uuid.UUID
    connection_status: ConnectionStatus
    status: HealthStatus = Field(description="healthy, degraded, unhealthy (SPEC 5.3) or unknown")
    success_rate: float | None = Field(description="Percent of successful checks in 24 h")
    average_response_ms: int | None = Field(description="Average check response time in 24 h")
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_checked_at: datetime | None
    sync_count_24h: int
    sync_success_count_24h: int
    sync_failure_count_24h: int
    api_calls_24h: int
    queue_depth: int = Field(description="Pending sync_queue items of this venue and provider")
    oldest_queue_item_at: datetime | None
    calculated_at: datetime | None
    last_error: str | None


class MetricsBucket(BaseModel):
    start: datetime
    checks: int
    successes: int
    average_response_ms: int | None
    api_calls: int


class HealthMetrics(BaseModel):
    provider: ProviderName
    venue_id: uuid.UUID
    period: Period
    since: datetime
    until: datetime
    checks: int
    successes: int
    failures: int
    success_rate: float | None
    average_response_ms: int | None
    p95_response_ms: int | None
    max_response_ms: int | None
    api_calls: int
    failed_api_calls: int
    bytes_sent: int
    bytes_received: int
    status: HealthStatus = Field(description="The status now (from the latest check)")
    buckets: list[MetricsBucket] = Field(description="Hourly for 24h, daily for 7d and 30d")


class CheckResult(BaseModel):
    provider: ProviderName
    venue_id: uuid.UUID
    ok: bool
    response_time_ms: int
    provider_status: int | None = Field(description="The provider's HTTP status, if it answered")
    error_code: str | None
    detail: str | None
    checked_at: datetime
    health: HealthView
