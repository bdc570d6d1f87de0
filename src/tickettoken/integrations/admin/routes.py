"""Admin routes of SPEC 5.2, under ``/api/v1/integrations/admin``: role ``admin`` only (a venue
admin, or any other role, gets 403). ``force-sync`` accepts ``Idempotency-Key`` (a repeat with the
same key and body answers the first job again)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from tickettoken.integrations.admin import service
from tickettoken.integrations.admin.schemas import (
    MONTH_PATTERN,
    Cleared,
    CostRow,
    DeadLetterBody,
    ForcedSync,
    ForceSyncBody,
    HealthSummary,
    QueueFilter,
    QueueMetrics,
    Recovered,
    RecoverStaleBody,
    Requeued,
    VenueIntegrations,
)
from tickettoken.integrations.connections.routes import PREFIX
from tickettoken.integrations.connections.schemas import ProviderName
from tickettoken.kit.auth import Principal, require_roles
from tickettoken.kit.contracts import AUTHENTICATED, COMMON_ERRORS, Ok, Page, errors
from tickettoken.kit.db import DbSession
from tickettoken.kit.idempotency import Idempotent, idempotent
from tickettoken.kit.pagination import PageParams, ok, page_params, paginated

Admin = Annotated[Principal, Depends(require_roles())]
Paging = Annotated[PageParams, Depends(page_params)]

router = APIRouter(
    prefix=f"{PREFIX}/admin",
    tags=["integrations: admin"],
    responses={**COMMON_ERRORS, **AUTHENTICATED},
)
WITH_BODY = errors(400, 413)


@router.get("/all-venues", response_model=Page[VenueIntegrations])
async def all_venues(session: DbSession, _: Admin, page: Paging) -> dict[str, Any]:
    """Every venue with an integration row, and each of its providers' status and health."""
    items, total = await service.all_venues(session, page)
    return paginated(items, page, total)


@router.get("/health-summary", response_model=Ok[HealthSummary])
async def health_summary(session: DbSession, _: Admin) -> dict[str, Any]:
    return ok(await service.health_summary(session))


@router.get("/costs", response_model=Page[CostRow])
async def costs(
    session: DbSession,
    _: Admin,
    page: Paging,
    venue_id: Annotated[uuid.UUID | None, Query()] = None,
    provider: Annotated[ProviderName | None, Query()] = None,
    month: Annotated[str | None, Query(pattern=MONTH_PATTERN, description="YYYY-MM")] = None,
) -> dict[str, Any]:
    """API calls and data volume per venue, provider and month, counted from real calls."""
    rows, total = await service.cost_report(
        session, page, venue_id=venue_id, provider=provider, month=month
    )
    return paginated(rows, page, total)


@router.post(
    "/force-sync",
    status_code=202,
    response_model=Ok[ForcedSync],
    response_description="Sync job queued",
    responses={**WITH_BODY, **errors(404, 409)},
)
async def force_sync(
    body: ForceSyncBody,
    session: DbSession,
    principal: Admin,
    idem: Annotated[Idempotent, idempotent("integration.force-sync")],
) -> JSONResponse:
    if idem.replay is not None:
        return idem.replayed()
    forced = await service.force_sync(session, body, requested_by=principal.sub)
    return await idem.respond(202, ok(forced.model_dump(mode="json")))


@router.post("/clear-queue", response_model=Ok[Cleared], responses=WITH_BODY)
async def clear_queue(body: QueueFilter, session: DbSession, _: Admin) -> dict[str, Any]:
    """Delete the sync_queue items matching every given filter; at least one is required."""
    return ok(await service.clear_queue(session, body))


@router.post("/process-dead-letter", response_model=Ok[Requeued], responses=WITH_BODY)
async def process_dead_letter(
    session: DbSession, _: Admin, body: DeadLetterBody | None = None
) -> dict[str, Any]:
    """Dead-lettered items back to pending (attempts reset), optionally by venue or provider."""
    return ok(await service.process_dead_letter(session, body or DeadLetterBody()))


@router.post("/recover-stale", response_model=Ok[Recovered], responses=WITH_BODY)
async def recover_stale(
    session: DbSession, _: Admin, body: RecoverStaleBody | None = None
) -> dict[str, Any]:
    """Items processing for longer than ``older_than_minutes`` back to pending (or to
    dead_letter when out of attempts)."""
    return ok(await service.recover_stale(session, body or RecoverStaleBody()))


@router.get("/queue-metrics", response_model=Ok[QueueMetrics])
async def queue_metrics(session: DbSession, _: Admin) -> dict[str, Any]:
    return ok(await service.queue_metrics(session))
