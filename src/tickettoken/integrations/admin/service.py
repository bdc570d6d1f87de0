"""The admin routes' work. Every write to ``sync_queue`` is one set-based statement whose
values are ones the table's CHECK allows; a clear without any filter is refused before anything
runs (AUDIT: the original's clear-queue emptied the whole queue)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.integrations.admin.schemas import (
    Cleared,
    CostRow,
    DeadLetterBody,
    ForcedSync,
    ForceSyncBody,
    HealthSummary,
    ProblemConnection,
    ProviderSummary,
    QueueCount,
    QueueFilter,
    QueueMetrics,
    Recovered,
    RecoverStaleBody,
    Requeued,
    VenueConnection,
    VenueIntegrations,
)
from tickettoken.integrations.connections.errors import NotConnected
from tickettoken.integrations.costs import repository as costs
from tickettoken.integrations.models import (
    IntegrationConfig,
    IntegrationCost,
    IntegrationHealth,
    SyncQueueItem,
)
from tickettoken.integrations.providers import PROVIDERS
from tickettoken.kit.errors import Conflict, ValidationFailed
from tickettoken.kit.jobs import enqueue
from tickettoken.kit.pagination import PageParams

HEALTH_VALUES = ("healthy", "degraded", "unhealthy", "unknown")
STALE_DEFAULT_MINUTES = 15


async def all_venues(
    session: AsyncSession, page: PageParams
) -> tuple[list[VenueIntegrations], int]:
    total = await session.scalar(select(func.count(func.distinct(IntegrationConfig.venue_id))))
    venues = (
        await session.scalars(
            select(IntegrationConfig.venue_id)
            .group_by(IntegrationConfig.venue_id)
            .order_by(IntegrationConfig.venue_id)
            .offset(page.offset)
            .limit(page.limit)
        )
    ).all()
    configs = (
        await session.scalars(
            select(IntegrationConfig)
            .where(IntegrationConfig.venue_id.in_(venues))
            .order_by(IntegrationConfig.venue_id, IntegrationConfig.integration_type)
        )
    ).all()
    grouped: dict[uuid.UUID, list[VenueConnection]] = {venue: [] for venue in venues}
    for config in configs:
        grouped[config.venue_id].append(
            VenueConnection(
                provider=config.integration_type,
                status=config.status or "disconnected",
                health_status=config.health_status or "unknown",
                connected_at=config.connected_at,
                last_sync_at=config.last_sync_at,
                health_checked_at=config.health_checked_at,
                last_error=config.last_error,
            )
        )
    items = [VenueIntegrations(venue_id=v, integrations=c) for v, c in grouped.items()]
    return items, int(total or 0)


async def health_summary(session: AsyncSession) -> HealthSummary:
    health = func.coalesce(IntegrationConfig.health_status, "unknown")
    connected = IntegrationConfig.status == "connected"
    rows = (
        await session.execute(
            select(
                IntegrationConfig.integration_type,
                func.count(),
                func.count().filter(connected),
                *(func.count().filter(and_(connected, health == value)) for value in HEALTH_VALUES),
            ).group_by(IntegrationConfig.integration_type)
        )
    ).all()
    by_provider = {
        row[0]: ProviderSummary(
            provider=row[0],
            connections=row[1],
            connected=row[2],
            **{value: row[3 + i] for i, value in enumerate(HEALTH_VALUES)},
        )
        for row in rows
        if row[0] in PROVIDERS
    }
    problems = (
        await session.execute(
            select(IntegrationConfig, IntegrationHealth)
            .outerjoin(
                IntegrationHealth,
                and_(
                    IntegrationHealth.venue_id == IntegrationConfig.venue_id,
                    IntegrationHealth.integration_type == IntegrationConfig.integration_type,
                ),
            )
            .where(connected, health.in_(("degraded", "unhealthy")))
            .order_by(health.desc(), IntegrationConfig.health_checked_at.desc())
            .limit(100)
        )
    ).all()
    summaries = sorted(by_provider.values(), key=lambda s: s.provider)
    return HealthSummary(
        total=sum(s.connections for s in summaries),
        connected=sum(s.connected for s in summaries),
        healthy=sum(s.healthy for s in summaries),
        degraded=sum(s.degraded for s in summaries),
        unhealthy=sum(s.unhealthy for s in summaries),
        unknown=sum(s.unknown for s in summaries),
        by_provider=summaries,
        attention=[_problem(config, row) for config, row in problems],
    )


def _problem(config: IntegrationConfig, row: IntegrationHealth | None) -> ProblemConnection:
    return ProblemConnection(
        venue_id=config.venue_id,
        provider=config.integration_type,
        health_status=config.health_status or "unknown",
        success_rate=float(row.success_rate) if row and row.success_rate is not None else None,
        average_response_ms=row.average_sync_time_ms if row else None,
        queue_depth=(row.queue_depth or 0) if row else 0,
        last_error=config.last_error,
        health_checked_at=config.health_checked_at,
    )


def parse_month(month: str | None) -> date | None:
    if month is None:
        return None
    year, number = month.split("-")
    return date(int(year), int(number), 1)


def _money(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def cost_row(row: IntegrationCost) -> CostRow:
    return CostRow(
        venue_id=row.venue_id,
        provider=row.integration_type,
        month=row.period_start.strftime("%Y-%m"),
        period_start=row.period_start,
        period_end=row.period_end,
        api_calls=row.api_calls or 0,
        data_bytes=row.data_bytes,
        data_synced_mb=float(row.data_synced_mb or 0),
        base_cost=_money(row.base_cost),
        overage_cost=_money(row.overage_cost),
        total_cost=_money(row.total_cost),
        included_in_plan=row.included_in_plan,
        billed_to_venue=row.billed_to_venue,
    )


async def cost_report(
    session: AsyncSession,
    page: PageParams,
    *,
    venue_id: uuid.UUID | None,
    provider: str | None,
    month: str | None,
) -> tuple[list[CostRow], int]:
    rows, total = await costs.cost_rows(
        session,
        venue_id=venue_id,
        provider=provider,
        month=parse_month(month),
        offset=page.offset,
        limit=page.limit,
    )
    return [cost_row(row) for row in rows], total


async def force_sync(
    session: AsyncSession, body: ForceSyncBody, *, requested_by: str
) -> ForcedSync:
    """Queue a ``sync`` job now for a connected integration (the sync engine is part 2: until
    it is registered, the job fails permanently with "no sync implementation")."""
    config = await session.scalar(
        select(IntegrationConfig).where(
            IntegrationConfig.venue_id == body.venue_id,
            IntegrationConfig.integration_type == body.provider,
        )
    )
    if config is None:
        raise NotConnected()
    if config.status != "connected":
        raise Conflict(f"The {body.provider} integration is {config.status}, not connected")
    job = await enqueue(
        session,
        queue="communication",
        type="sync",
        payload={
            "provider": body.provider,
            "venue_id": str(body.venue_id),
            "sync_type": body.sync_type,
            "direction": body.direction,
            "forced": True,
            "requested_by": requested_by,
        },
        priority=2,
        venue_id=str(body.venue_id),
    )
    return ForcedSync(
        job_id=job.job_id,
        queue=job.queue,
        status=job.status,
        created=job.created,
        venue_id=body.venue_id,
        provider=body.provider,
        sync_type=body.sync_type,
        direction=body.direction,
    )


def _filters(venue_id: uuid.UUID | None, provider: str | None) -> list[Any]:
    conditions: list[Any] = []
    if venue_id is not None:
        conditions.append(SyncQueueItem.venue_id == venue_id)
    if provider is not None:
        conditions.append(SyncQueueItem.integration_type == provider)
    return conditions


async def clear_queue(session: AsyncSession, body: QueueFilter) -> Cleared:
    filters = {
        name: str(value)
        for name, value in (
            ("venue_id", body.venue_id),
            ("provider", body.provider),
            ("status", body.status),
        )
        if value is not None
    }
    if not filters:
        raise ValidationFailed(
            "clear-queue needs at least one filter: venue_id, provider or status",
            details=[{"field": "body", "message": "give venue_id, provider or status"}],
        )
    conditions = _filters(body.venue_id, body.provider)
    if body.status is not None:
        conditions.append(SyncQueueItem.status == body.status)
    result = await session.execute(
        delete(SyncQueueItem).where(*conditions).execution_options(synchronize_session=False)
    )
    return Cleared(deleted=result.rowcount or 0, filters=filters)  # type: ignore[attr-defined]


async def process_dead_letter(session: AsyncSession, body: DeadLetterBody) -> Requeued:
    """Dead letters back to ``pending`` with their attempts reset, due now."""
    chosen = (
        select(SyncQueueItem.id)
        .where(SyncQueueItem.status == "dead_letter", *_filters(body.venue_id, body.provider))
        .order_by(SyncQueueItem.queued_at)
        .limit(body.limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    result = await session.execute(
        update(SyncQueueItem)
        .where(SyncQueueItem.id.in_(chosen))
        .values(
            status="pending",
            attempts=0,
            next_retry_at=func.now(),
            started_at=None,
            completed_at=None,
            expires_at=func.greatest(
                SyncQueueItem.expires_at, func.now() + text("interval '7 days'")
            ),
        )
        .execution_options(synchronize_session=False)
    )
    return Requeued(requeued=result.rowcount or 0)  # type: ignore[attr-defined]


async def recover_stale(session: AsyncSession, body: RecoverStaleBody) -> Recovered:
    """``processing`` rows started more than N minutes ago (their worker died): back to
    ``pending``, or to ``dead_letter`` when they have used up their attempts."""
    started = func.coalesce(SyncQueueItem.started_at, SyncQueueItem.queued_at)
    stale = [
        SyncQueueItem.status == "processing",
        started < func.now() - func.make_interval(0, 0, 0, 0, 0, body.older_than_minutes),
        *_filters(body.venue_id, body.provider),
    ]
    exhausted = func.coalesce(SyncQueueItem.attempts, 0) >= func.coalesce(
        SyncQueueItem.max_attempts, 10
    )
    dead = await session.execute(
        update(SyncQueueItem)
        .where(*stale, exhausted)
        .values(
            status="dead_letter",
            last_error="abandoned while processing (stale) with no attempts left",
            completed_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    back = await session.execute(
        update(SyncQueueItem)
        .where(*stale, ~exhausted)
        .values(status="pending", started_at=None, next_retry_at=func.now())
        .execution_options(synchronize_session=False)
    )
    return Recovered(
        recovered=back.rowcount or 0,  # type: ignore[attr-defined]
        dead_lettered=dead.rowcount or 0,  # type: ignore[attr-defined]
    )


async def queue_metrics(session: AsyncSession) -> QueueMetrics:
    rows = (
        await session.execute(
            select(
                SyncQueueItem.integration_type,
                SyncQueueItem.status,
                func.count(),
                func.min(SyncQueueItem.queued_at),
            )
            .group_by(SyncQueueItem.integration_type, SyncQueueItem.status)
            .order_by(SyncQueueItem.integration_type, SyncQueueItem.status)
        )
    ).all()
    by_status: dict[str, int] = {}
    counts = []
    for provider, status, count, oldest in rows:
        status = status or "pending"
        by_status[status] = by_status.get(status, 0) + count
        counts.append(
            QueueCount(provider=provider, status=status, count=count, oldest_queued_at=oldest)
        )
    stale = await session.scalar(
        select(func.count())
        .select_from(SyncQueueItem)
        .where(
            SyncQueueItem.status == "processing",
            func.coalesce(SyncQueueItem.started_at, SyncQueueItem.queued_at)
            < func.now() - func.make_interval(0, 0, 0, 0, 0, STALE_DEFAULT_MINUTES),
        )
    )
    return QueueMetrics(
        total=sum(by_status.values()),
        by_status=by_status,
        by_provider=counts,
        stale_processing=int(stale or 0),
    )
