"""Health routes of SPEC 5.2, under ``/api/v1/integrations/health``: the stored 24 h figures,
rolling metrics (24h, 7d, 30d; any other period is a 422) and a live check on demand. Scoped to
the caller's venues like the connection routes: another venue's integration answers 404, and
only a venue's managers (or an admin) may run a live check."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from tickettoken.integrations.connections.routes import PREFIX, Clients, VenueQuery
from tickettoken.integrations.connections.schemas import ProviderName, VenueBody
from tickettoken.integrations.health import service
from tickettoken.integrations.health.schemas import CheckResult, HealthMetrics, HealthView, Period
from tickettoken.kit.auth import Caller
from tickettoken.kit.contracts import AUTHENTICATED, COMMON_ERRORS, Ok, errors
from tickettoken.kit.db import DbSession, get_database
from tickettoken.kit.pagination import ok

router = APIRouter(
    prefix=f"{PREFIX}/health",
    tags=["integrations: health"],
    responses={**COMMON_ERRORS, **AUTHENTICATED},
)


@router.get("/{provider}", response_model=Ok[HealthView], responses=errors(404))
async def get_health(
    provider: ProviderName, session: DbSession, principal: Caller, venue_id: VenueQuery = None
) -> dict[str, Any]:
    return ok(await service.get_health(session, principal, venue_id, provider))


@router.get("/{provider}/metrics", response_model=Ok[HealthMetrics], responses=errors(404))
async def get_metrics(
    provider: ProviderName,
    request: Request,
    session: DbSession,
    principal: Caller,
    venue_id: VenueQuery = None,
    period: Annotated[Period, Query(description="24h, 7d or 30d")] = "24h",
) -> dict[str, Any]:
    engine = get_database(request).engine
    return ok(await service.get_metrics(engine, session, principal, venue_id, provider, period))


@router.post(
    "/{provider}/test",
    response_model=Ok[CheckResult],
    responses=errors(400, 404, 413),
)
async def test_connection(
    provider: ProviderName,
    body: VenueBody,
    request: Request,
    session: DbSession,
    principal: Caller,
    clients: Clients,
) -> dict[str, Any]:
    """Check the connection live now; the result is recorded like a scheduled check (a failed
    check is an answer too: ``ok`` false, with the provider's status and code)."""
    engine = get_database(request).engine
    venue: uuid.UUID = body.venue_id
    return ok(await service.check_now(engine, session, clients, principal, venue, provider))
