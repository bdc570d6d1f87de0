"""HTTP routes of venues (SPEC 4.1); thin: parse, call the service, wrap in the envelope."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from tickettoken.events.dependencies import DbSession
from tickettoken.events.venues import service
from tickettoken.events.venues.schemas import (
    VenueAnalytics,
    VenueCreate,
    VenueDashboard,
    VenueRead,
    VenueUpdate,
)
from tickettoken.kit.auth import Caller
from tickettoken.kit.contracts import (
    AUTHENTICATED,
    COMMON_ERRORS,
    Ok,
    Page,
    created,
    errors,
    link,
)
from tickettoken.kit.errors import ValidationFailed
from tickettoken.kit.pagination import PageParams, ok, page_params, paginated
from tickettoken.kit.schema_types import IsoDate

router = APIRouter(
    prefix="/api/v1/venues", tags=["venues"], responses={**COMMON_ERRORS, **AUTHENTICATED}
)
WITH_BODY = errors(400, 413)
_VENUE = "/api/v1/venues/{venue_id}"
_NEW = {"path.venue_id": "$response.body#/data/id"}
VENUE_CREATED = created(
    201,
    "The venue",
    GetVenue=link(_VENUE, "GET", parameters=_NEW),
    UpdateVenue=link(_VENUE, "PUT", parameters=_NEW),
    VenueDashboard=link(_VENUE + "/dashboard", "GET", parameters=_NEW),
    VenueAnalytics=link(_VENUE + "/analytics", "GET", parameters=_NEW),
    VenueEvents=link(_VENUE + "/events", "GET", parameters=_NEW),
    CreateEvent=link(
        "/api/v1/events",
        "POST",
        body={"venue_id": "$response.body#/data/id", "capacity": "$response.body#/data/capacity"},
    ),
)


@router.post(
    "",
    status_code=201,
    response_model=Ok[VenueRead],
    responses={**WITH_BODY, **VENUE_CREATED},
)
async def create_venue(body: VenueCreate, session: DbSession, principal: Caller) -> dict[str, Any]:
    venue = await service.create_venue(session, principal, body)
    return ok(service.venue_view(venue))


@router.get("", response_model=Page[VenueRead])
async def list_venues(
    session: DbSession, principal: Caller, page: Annotated[PageParams, Depends(page_params)]
) -> dict[str, Any]:
    venues, total = await service.list_venues(session, principal, page)
    return paginated([service.venue_view(v) for v in venues], page, total)


@router.get("/{venue_id}", response_model=Ok[VenueRead], responses=errors(404))
async def get_venue(venue_id: uuid.UUID, session: DbSession, principal: Caller) -> dict[str, Any]:
    venue = await service.readable_venue(session, principal, venue_id)
    return ok(service.venue_view(venue))


@router.put(
    "/{venue_id}", response_model=Ok[VenueRead], responses={**WITH_BODY, **errors(404, 409)}
)
async def update_venue(
    venue_id: uuid.UUID,
    body: VenueUpdate,
    session: DbSession,
    principal: Caller,
) -> dict[str, Any]:
    venue = await service.update_venue(session, principal, venue_id, body)
    return ok(service.venue_view(venue))


@router.get("/{venue_id}/dashboard", response_model=Ok[VenueDashboard], responses=errors(404))
async def venue_dashboard(
    venue_id: uuid.UUID, session: DbSession, principal: Caller
) -> dict[str, Any]:
    return ok(await service.venue_dashboard(session, principal, venue_id))


@router.get("/{venue_id}/analytics", response_model=Ok[VenueAnalytics], responses=errors(404))
async def venue_analytics(
    venue_id: uuid.UUID,
    session: DbSession,
    principal: Caller,
    start_date: Annotated[IsoDate, Query(description="First local date (inclusive)")],
    end_date: Annotated[IsoDate, Query(description="Last local date (inclusive)")],
) -> dict[str, Any]:
    if end_date < start_date:
        raise ValidationFailed(
            "end_date must not be before start_date",
            details=[{"field": "query.end_date", "message": "before start_date"}],
        )
    return ok(await service.venue_analytics(session, principal, venue_id, start_date, end_date))
