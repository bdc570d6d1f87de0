"""Answers and bodies of the webhook routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from tickettoken.kit.schema_types import RequestModel

WebhookProvider = Literal["stripe", "square", "mailchimp", "quickbooks"]
WebhookStatus = Literal["pending", "processing", "processed", "failed", "ignored"]


class WebhookReceipt(BaseModel):
    """What a provider is told: how many of the delivery's events were new."""

    received: int
    duplicates: int


class MailchimpValidation(BaseModel):
    ok: bool = True


class WebhookEventView(BaseModel):
    id: uuid.UUID
    venue_id: uuid.UUID | None
    provider: str
    event_type: str
    external_id: str | None
    status: str | None
    error: str | None
    retry_count: int | None
    received_at: datetime | None
    processed_at: datetime | None


class RetryBody(RequestModel):
    venue_id: uuid.UUID | None = None
    provider: WebhookProvider | None = None
    limit: int = Field(100, ge=1, le=1000)


class RetryResult(BaseModel):
    requeued: int
    webhook_ids: list[uuid.UUID]
