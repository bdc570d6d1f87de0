"""Request bodies and answers of the sync routes (SPEC 5.2). Bodies accept camelCase names
(``venueId``, ``syncType``) as the original platform's clients send them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from tickettoken.kit.schema_types import RequestModel

SyncType = Literal["products", "customers", "transactions", "full"]
Direction = Literal["to_provider", "from_provider", "bidirectional"]
# sync_logs.status has no CHECK; these are the original's values: pending (queued), started
# (its job runs), then always one of completed, partial, failed.
SyncStatus = Literal["pending", "started", "completed", "partial", "failed"]
FINISHED: tuple[str, ...] = ("completed", "partial", "failed")
RUNNING: tuple[str, ...] = ("pending", "started")


class SyncBody(RequestModel):
    venue_id: uuid.UUID
    sync_type: SyncType = "full"
    direction: Direction = "to_provider"


class SyncVenueBody(RequestModel):
    venue_id: uuid.UUID


class WorkItemCounts(BaseModel):
    pending: int = 0
    processing: int = 0
    completed: int = 0
    failed: int = 0
    dead_letter: int = 0


class FieldConflict(BaseModel):
    platform: Any
    provider: Any


class SyncConflict(BaseModel):
    """A customer changed on both sides since the last sync; the newer change won."""

    local_id: str
    remote_id: str
    fields: dict[str, FieldConflict]
    platform_updated_at: datetime | None
    provider_updated_at: datetime | None = Field(
        description="None when the provider records no update time (Stripe): the platform wins"
    )
    winner: Literal["platform", "provider"]


class SyncView(BaseModel):
    sync_id: uuid.UUID
    provider: str
    venue_id: uuid.UUID
    sync_type: str
    direction: str
    status: SyncStatus
    processed: int = Field(description="Records handled so far (succeeded + failed + unchanged)")
    succeeded: int = Field(description="Records written to the provider")
    failed: int
    skipped: int = Field(description="Records unchanged since the last sync: no call made")
    entity_count: int | None = Field(description="Records the sync found to move")
    api_calls: int | None
    stop_requested: bool
    started_at: datetime
    completed_at: datetime | None
    duration_ms: int | None
    errors: list[str]
    work_items: WorkItemCounts
    conflicts: list[SyncConflict] = Field(
        default_factory=list,
        description="Customers changed on both sides (from_provider, bidirectional), first 200",
    )
    notes: list[str] = Field(
        default_factory=list,
        description="What the sync did not need to move, and why (Stripe's own payments)",
    )


class SyncStarted(BaseModel):
    sync_id: uuid.UUID
    job_id: str
    provider: str
    venue_id: uuid.UUID
    sync_type: str
    direction: str
    status: SyncStatus
