"""Every table of the integration service, mapped exactly as migrations 0001, 0002 and 0011
create them (the nine tables of the original, the shared OAuth state, and the additive columns
the vault and the refresh lease need).

One module for the service: the tables are few and every domain package (connections, vault,
sync, webhooks, health) reads several of them. Ids and defaults come from PostgreSQL; with
``eager_defaults`` SQLAlchemy reads them back with ``RETURNING`` (async sessions cannot lazy
load an expired attribute). Status columns are ``text`` + CHECK in the database; the allowed
values are named here so code never writes one the table refuses.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, INET, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from tickettoken.kit.orm import Base

EAGER_DEFAULTS: Final[dict[str, Any]] = {"eager_defaults": True}

# Allowed values of the CHECK constraints of migration 0001.
CONFIG_STATUSES: Final = ("disconnected", "connecting", "connected", "error", "suspended")
HEALTH_STATUSES: Final = ("healthy", "degraded", "unhealthy", "unknown")
SYNC_OPERATIONS: Final = ("create", "update", "delete", "sync", "reconcile")
SYNC_PRIORITIES: Final = ("CRITICAL", "HIGH", "NORMAL", "LOW")
SYNC_STATUSES: Final = ("pending", "processing", "completed", "failed", "dead_letter")
WEBHOOK_STATUSES: Final = ("pending", "processing", "processed", "failed", "ignored")


def _id() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )


def _venue(*, nullable: bool = False) -> Mapped[Any]:
    return mapped_column(UUID(as_uuid=True), nullable=nullable)


def _provider() -> Mapped[str]:
    return mapped_column(String(50))


def _moment(*, nullable: bool = True) -> Mapped[Any]:
    return mapped_column(DateTime(timezone=True), nullable=nullable)


def _created(*, nullable: bool = False) -> Mapped[Any]:
    return mapped_column(
        DateTime(timezone=True), server_default=text("CURRENT_TIMESTAMP"), nullable=nullable
    )


def _counter() -> Mapped[int | None]:
    return mapped_column(Integer, server_default=text("0"))


class IntegrationConfig(Base):
    """A venue's connection to one provider (``integration_type``), at most one per pair."""

    __tablename__ = "integration_configs"
    __mapper_args__ = EAGER_DEFAULTS

    id: Mapped[uuid.UUID] = _id()
    venue_id: Mapped[uuid.UUID] = _venue()
    integration_type: Mapped[str] = _provider()
    status: Mapped[str | None] = mapped_column(Text, server_default=text("'disconnected'"))
    connected_at: Mapped[datetime | None] = _moment()
    disconnected_at: Mapped[datetime | None] = _moment()
    last_sync_at: Mapped[datetime | None] = _moment()
    next_sync_at: Mapped[datetime | None] = _moment()
    config: Mapped[dict[str, Any] | None] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    field_mappings: Mapped[dict[str, Any] | None] = mapped_column(
        JSONB, server_default=text("'{}'::jsonb")
    )
    template_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    template_applied_at: Mapped[datetime | None] = _moment()
    health_status: Mapped[str | None] = mapped_column(Text, server_default=text("'unknown'"))
    health_checked_at: Mapped[datetime | None] = _moment()
    failure_count: Mapped[int | None] = _counter()
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = _moment()
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class OAuthToken(Base):
    """A connection's OAuth tokens, encrypted by the vault (``v<N>:`` ciphertexts).

    ``refresh_generation``, ``refresh_lease_owner`` and ``refresh_lease_expires_at`` (0011) are
    the refresh lease and its fencing token (integrations/connections/refresh.py).
    """

    __tablename__ = "oauth_tokens"
    __mapper_args__ = EAGER_DEFAULTS

    id: Mapped[uuid.UUID] = _id()
    venue_id: Mapped[uuid.UUID] = _venue()
    integration_type: Mapped[str] = _provider()
    encrypted_access_token: Mapped[str] = mapped_column(Text)
    encrypted_refresh_token: Mapped[str | None] = mapped_column(Text)
    encryption_key_version: Mapped[int | None] = mapped_column(Integer, server_default=text("1"))
    scopes: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    token_type: Mapped[str | None] = mapped_column(String(50), server_default=text("'Bearer'"))
    expires_at: Mapped[datetime | None] = _moment()
    refresh_count: Mapped[int | None] = _counter()
    last_refreshed_at: Mapped[datetime | None] = _moment()
    refresh_failed_count: Mapped[int | None] = _counter()
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_ip: Mapped[str | None] = mapped_column(INET)
    last_used_at: Mapped[datetime | None] = _moment()
    created_at: Mapped[datetime | None] = _created(nullable=True)
    # 0002
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    provider_data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    # 0011
    refresh_expires_at: Mapped[datetime | None] = _moment()
    refresh_generation: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    refresh_lease_owner: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    refresh_lease_expires_at: Mapped[datetime | None] = _moment()


class VenueApiKey(Base):
    """A venue's API key for a provider, encrypted by the vault."""

    __tablename__ = "venue_api_keys"
    __mapper_args__ = EAGER_DEFAULTS

    id: Mapped[uuid.UUID] = _id()
    venue_id: Mapped[uuid.UUID] = _venue()
    integration_type: Mapped[str] = _provider()
    encrypted_api_key: Mapped[str] = mapped_column(Text)
    encrypted_api_secret: Mapped[str | None] = mapped_column(Text)
    key_name: Mapped[str | None] = mapped_column(String(255))
    environment: Mapped[str | None] = mapped_column(String(20), server_default=text("'production'"))
    is_valid: Mapped[bool | None] = mapped_column(Boolean, server_default=text("true"))
    last_validated_at: Mapped[datetime | None] = _moment()
    validation_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()
    # 0011
    encryption_key_version: Mapped[int] = mapped_column(Integer, server_default=text("1"))


class SyncQueueItem(Base):
    __tablename__ = "sync_queue"
    __mapper_args__ = EAGER_DEFAULTS

    id: Mapped[uuid.UUID] = _id()
    venue_id: Mapped[uuid.UUID] = _venue()
    integration_type: Mapped[str] = _provider()
    operation_type: Mapped[str] = mapped_column(Text)
    entity_type: Mapped[str] = mapped_column(String(50))
    entity_id: Mapped[str | None] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    priority: Mapped[str | None] = mapped_column(Text, server_default=text("'NORMAL'"))
    status: Mapped[str | None] = mapped_column(Text, server_default=text("'pending'"))
    attempts: Mapped[int | None] = _counter()
    max_attempts: Mapped[int | None] = mapped_column(Integer, server_default=text("10"))
    next_retry_at: Mapped[datetime | None] = _moment()
    queued_at: Mapped[datetime | None] = _created(nullable=True)
    started_at: Mapped[datetime | None] = _moment()
    completed_at: Mapped[datetime | None] = _moment()
    expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=text("(CURRENT_TIMESTAMP + interval '7 days')")
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    error_count: Mapped[int | None] = _counter()
    correlation_id: Mapped[str | None] = mapped_column(String(255))
    # 0014: the sync a work item belongs to and the lease of the worker processing it.
    sync_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    lease_owner: Mapped[str | None] = mapped_column(Text)
    lease_expires_at: Mapped[datetime | None] = _moment()


class FieldMappingTemplate(Base):
    __tablename__ = "field_mapping_templates"
    __mapper_args__ = EAGER_DEFAULTS

    id: Mapped[uuid.UUID] = _id()
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    venue_type: Mapped[str | None] = mapped_column(String(50))
    integration_type: Mapped[str] = _provider()
    mappings: Mapped[dict[str, Any]] = mapped_column(JSONB)
    validation_rules: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    usage_count: Mapped[int | None] = _counter()
    last_used_at: Mapped[datetime | None] = _moment()
    is_default: Mapped[bool | None] = mapped_column(Boolean, server_default=text("false"))
    is_active: Mapped[bool | None] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class IntegrationWebhook(Base):
    __tablename__ = "integration_webhooks"
    __mapper_args__ = EAGER_DEFAULTS

    id: Mapped[uuid.UUID] = _id()
    venue_id: Mapped[uuid.UUID | None] = _venue(nullable=True)
    integration_type: Mapped[str] = _provider()
    event_type: Mapped[str] = mapped_column(String(100))
    event_id: Mapped[str | None] = mapped_column(String(255))
    headers: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    signature: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str | None] = mapped_column(Text, server_default=text("'pending'"))
    processed_at: Mapped[datetime | None] = _moment()
    error: Mapped[str | None] = mapped_column(Text)
    retry_count: Mapped[int | None] = _counter()
    external_id: Mapped[str | None] = mapped_column(String(255))
    received_at: Mapped[datetime | None] = _created(nullable=True)


class SyncLog(Base):
    __tablename__ = "sync_logs"
    __mapper_args__ = EAGER_DEFAULTS

    id: Mapped[uuid.UUID] = _id()
    venue_id: Mapped[uuid.UUID] = _venue()
    integration_type: Mapped[str] = _provider()
    sync_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    operation: Mapped[str] = mapped_column(String(100))
    entity_type: Mapped[str | None] = mapped_column(String(50))
    entity_count: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(50))
    success_count: Mapped[int | None] = _counter()
    error_count: Mapped[int | None] = _counter()
    skip_count: Mapped[int | None] = _counter()
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    api_calls_made: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    errors: Mapped[Any | None] = mapped_column(JSONB)
    started_at: Mapped[datetime] = _moment(nullable=False)
    completed_at: Mapped[datetime | None] = _moment()
    # 0014: what the sync moves, and the stop route's request.
    direction: Mapped[str | None] = mapped_column(String(20))
    stop_requested_at: Mapped[datetime | None] = _moment()


class IntegrationHealth(Base):
    __tablename__ = "integration_health"
    __mapper_args__ = EAGER_DEFAULTS

    id: Mapped[uuid.UUID] = _id()
    venue_id: Mapped[uuid.UUID] = _venue()
    integration_type: Mapped[str] = _provider()
    success_rate: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    average_sync_time_ms: Mapped[int | None] = mapped_column(Integer)
    last_success_at: Mapped[datetime | None] = _moment()
    last_failure_at: Mapped[datetime | None] = _moment()
    sync_count_24h: Mapped[int | None] = _counter()
    success_count_24h: Mapped[int | None] = _counter()
    failure_count_24h: Mapped[int | None] = _counter()
    api_calls_24h: Mapped[int | None] = _counter()
    api_quota_remaining: Mapped[int | None] = mapped_column(Integer)
    api_quota_resets_at: Mapped[datetime | None] = _moment()
    queue_depth: Mapped[int | None] = _counter()
    oldest_queue_item_at: Mapped[datetime | None] = _moment()
    calculated_at: Mapped[datetime | None] = _created(nullable=True)


class IntegrationCost(Base):
    __tablename__ = "integration_costs"
    __mapper_args__ = EAGER_DEFAULTS

    id: Mapped[uuid.UUID] = _id()
    venue_id: Mapped[uuid.UUID] = _venue()
    integration_type: Mapped[str] = _provider()
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    api_calls: Mapped[int | None] = _counter()
    data_synced_mb: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    base_cost: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    overage_cost: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    total_cost: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    included_in_plan: Mapped[bool | None] = mapped_column(Boolean, server_default=text("true"))
    billed_to_venue: Mapped[bool | None] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime | None] = _created(nullable=True)
    # 0013: exact bytes of the month (data_synced_mb is derived from it; integrations/costs)
    data_bytes: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class OAuthState(Base):
    """A pending OAuth flow (migration 0002): only the SHA-256 of the state sent to the
    browser is stored (``state``); single use through ``used_at``."""

    __tablename__ = "oauth_states"
    __mapper_args__ = EAGER_DEFAULTS

    state: Mapped[str] = mapped_column(Text, primary_key=True)
    venue_id: Mapped[uuid.UUID] = _venue()
    integration_type: Mapped[str] = _provider()
    user_id: Mapped[str] = mapped_column(Text)
    redirect_after: Mapped[str | None] = mapped_column(Text)
    code_verifier: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    expires_at: Mapped[datetime] = _moment(nullable=False)
    used_at: Mapped[datetime | None] = _moment()


__all__ = [
    "CONFIG_STATUSES",
    "HEALTH_STATUSES",
    "SYNC_OPERATIONS",
    "SYNC_PRIORITIES",
    "SYNC_STATUSES",
    "WEBHOOK_STATUSES",
    "FieldMappingTemplate",
    "IntegrationConfig",
    "IntegrationCost",
    "IntegrationHealth",
    "IntegrationWebhook",
    "OAuthState",
    "OAuthToken",
    "SyncLog",
    "SyncQueueItem",
    "VenueApiKey",
]
