"""Request bodies and answers of the admin routes. Queue statuses are only those the
``sync_queue`` CHECK allows (models.SYNC_STATUSES)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from tickettoken.integrations.connections.schemas import (
    ConnectionStatus,
    HealthStatus,
    ProviderName,
)
from tickettoken.kit.schema_types import RequestModel

QueueStatus = Literal["pending", "processing", "completed", "failed", "dead_letter"]
SyncType = Literal["products", "customers", "transactions", "full"]
Direction = Literal["to_provider", "from_provider", "bidirectional"]
MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


class VenueConnection(BaseModel):
    provider: ProviderName
    status: ConnectionStatus
    health_status: HealthStatus
    connected_at: datetime | None
    last_sync_at: datetime | None
    health_checked_at: datetime | None
    last_error: str | None


class VenueIntegrations(BaseModel):
    venue_id: uuid.UUID
    integrations: list[VenueConnection]


class ProblemConnection(BaseModel):
    venue_id: uuid.UUID
    provider: ProviderName
    health_status: HealthStatus
    success_rate: float | None
    average_response_ms: int | None
    queue_depth: int
    last_error: str | None
    health_checked_at: datetime | None


class ProviderSummary(BaseModel):
    provider: ProviderName
    connections: int = Field(description="Rows in any status")
    connected: int
    healthy: int
    degraded: int
    unhealthy: int
    unknown: int


class HealthSummary(BaseModel):
    total: int
    connected: int
    healthy: int
    degraded: int
    unhealthy: int
    unknown: int
    by_provider: list[ProviderSummary]
    attention: list[ProblemConnection] = Field(
        description="Connected integrations that are degraded or unhealthy (at most 100)"
    )


class CostRow(BaseModel):
    venue_id: uuid.UUID
    provider: ProviderName
    month: str = Field(description="YYYY-MM")
    period_start: date
    period_end: date
    api_calls: int
    data_bytes: int
    data_synced_mb: float
    base_cost: float | None
    overage_cost: float | None
    total_cost: float | None
    included_in_plan: bool | None
    billed_to_venue: bool | None


class ForceSyncBody(RequestModel):
    venue_id: uuid.UUID
    provider: ProviderName
    sync_type: SyncType = "full"
    direction: Direction = "bidirectional"


class ForcedSync(BaseModel):
    job_id: str
    queue: str
    status: str
    created: bool = Field(description="False when the Idempotency-Key named an earlier job")
    venue_id: uuid.UUID
    provider: ProviderName
    sync_type: SyncType
    direction: Direction


class QueueFilter(RequestModel):
    venue_id: uuid.UUID | None = None
    provider: ProviderName | None = None
    status: QueueStatus | None = None


class Cleared(BaseModel):
    deleted: int
    filters: dict[str, str]


class DeadLetterBody(RequestModel):
    venue_id: uuid.UUID | None = None
    provider: ProviderName | None = None
    limit: int = Field(default=1000, ge=1, le=10_000)


class Requeued(BaseModel):
    requeued: int


class RecoverStaleBody(RequestModel):
    older_than_minutes: int = Field(default=15, ge=1, le=10_080)
    venue_id: uuid.UUID | None = None
    provider: ProviderName | None = None


class Recovered(BaseModel):
    recovered: int = Field(description="Back to pending")
    dead_lettered: int = Field(description="Out of attempts: moved to dead_letter")


class QueueCount(BaseModel):
    provider: str
    status: QueueStatus
    count: int
    oldest_queued_at: datetime | None


class QueueMetrics(BaseModel):
    total: int
    by_status: dict[str, int]
    by_provider: list[QueueCount]
    stale_processing: int = Field(description="processing for more than 15 minutes")
