"""HTTP routes of events, capacity and event analytics (SPEC 4.1); reads go through the cache."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from tickettoken.events import cache
from tickettoken.events.dependencies import DbSession, KeyValue
from tickettoken.events.events import capacity, service
from tickettoken.events.events.access import visible_event, visible_venue_ids
from tickettoken.events.events.models import EventCategory, EventStatus
from tickettoken.events.events.schemas import (
    Capacity,
    CapacityUpdate,
    EventAnalytics,
    EventCreate,
    EventDeleted,
    EventFilters,
    EventRead,
    EventUpdate,
)
from tickettoken.events.venues import service as venues_service
from tickettoken.kit.auth import Caller, Principal
from tickettoken.kit.contracts import (
    AUTHENTICATED,
    COMMON_ERRORS,
    Ok,
    Page,
    created,
    errors,
    link,
)
from tickettoken.kit.errors import NotFound, ValidationFailed
from tickettoken.kit.pagination import PageParams, ok, page_params, paginated
from tickettoken.kit.schema_types import IsoDate, contains_unstorable_text, non_blank

ANSWERS = {**COMMON_ERRORS, **AUTHENTICATED}
router = APIRouter(prefix="/api/v1/events", tags=["events"], responses=ANSWERS)
venue_events_router = APIRouter(prefix="/api/v1/venues", tags=["venues"], responses=ANSWERS)
WITH_BODY = errors(400, 413)
CHANGES = {**WITH_BODY, **errors(404, 409)}
_EVENT = "/api/v1/events/{event_id}"
_NEW = {"path.event_id": "$response.body#/data/id"}
EVENT_CREATED = created(
    201,
    "The event (a draft)",
    GetEvent=link(_EVENT, "GET", parameters=_NEW),
    UpdateEvent=link(_EVENT, "PUT", parameters=_NEW),
    DeleteEvent=link(_EVENT, "DELETE", parameters=_NEW),
    PublishEvent=link(_EVENT + "/publish", "POST", parameters=_NEW),
    CancelEvent=link(_EVENT + "/cancel", "POST", parameters=_NEW),
    EventAnalytics=link(_EVENT + "/analytics", "GET", parameters=_NEW),
    GetCapacity=link(_EVENT + "/capacity", "GET", parameters=_NEW),
    ChangeCapacity=link(_EVENT + "/capacity", "PUT", parameters=_NEW),
    ListTicketTypes=link(_EVENT + "/ticket-types", "GET", parameters=_NEW),
    CreateTicketType=link(
        _EVENT + "/ticket-types",
        "POST",
        parameters=_NEW,
        body={"quantity": "$response.body#/data/capacity"},
    ),
    ListPricingRules=link(_EVENT + "/pricing-rules", "GET", parameters=_NEW),
    GetPricing=link(_EVENT + "/pricing", "GET", parameters=_NEW),
)
Paging = Annotated[PageParams, Depends(page_params)]
PRICE_PATTERN = r"[0-9]{1,8}(?:\.[0-9]{1,2})?"
Price = Annotated[
    str | None,
    Query(pattern=f"^{PRICE_PATTERN}$", description="A price with at most 2 decimal places"),
]


def utc_now() -> datetime:
    return datetime.now(UTC)


def event_filters(
    status: EventStatus | None = None,
    category: EventCategory | None = None,
    venue_id: uuid.UUID | None = None,
    start_date: Annotated[IsoDate | None, Query(description="Starting on or after")] = None,
    end_date: Annotated[IsoDate | None, Query(description="Starting on or before")] = None,
    min_price: Price = None,
    max_price: Price = None,
    q: Annotated[str | None, Query(min_length=1, max_length=200, pattern=non_blank())] = None,
) -> EventFilters:
    if q is not None and contains_unstorable_text(q):
        raise ValidationFailed(
            "q must not contain NUL characters or lone surrogates",
            details=[{"field": "query.q", "message": "unstorable text"}],
        )
    low = Decimal(min_price) if min_price is not None else None
    high = Decimal(max_price) if max_price is not None else None
    if low is not None and high is not None and high < low:
        raise ValidationFailed(
            "max_price must not be below min_price",
            details=[{"field": "query.max_price", "message": "below min_price"}],
        )
    return EventFilters(
        status=status,
        category=category,
        venue_id=venue_id,
        start_date=start_date,
        end_date=end_date,
        min_price=low,
        max_price=high,
        q=q,
    )


async def _cached_list(
    session: DbSession, kv: KeyValue, principal: Principal, filters: EventFilters, page: PageParams
) -> dict[str, Any]:
    scope = visible_venue_ids(principal)
    params = {
        "filters": filters.model_dump(mode="json"),
        "page": page.page,
        "limit": page.limit,
        "scope": sorted(scope) if scope is not None else "*",
    }

    async def load() -> dict[str, Any]:
        events, total = await service.list_events(session, principal, filters, page)
        return paginated([service.event_view(e) for e in events], page, total)

    result: dict[str, Any] = await cache.cached(
        kv, event_id=None, kind="list", params=params, load=load
    )
    return result


@router.get("", response_model=Page[EventRead])
async def list_events(
    session: DbSession,
    kv: KeyValue,
    principal: Caller,
    page: Paging,
    filters: Annotated[EventFilters, Depends(event_filters)],
) -> dict[str, Any]:
    return await _cached_list(session, kv, principal, filters, page)


@venue_events_router.get(
    "/{venue_id}/events", response_model=Page[EventRead], responses=errors(404)
)
async def list_venue_events(
    venue_id: uuid.UUID,
    session: DbSession,
    kv: KeyValue,
    principal: Caller,
    page: Paging,
    status: EventStatus | None = None,
) -> dict[str, Any]:
    await venues_service.readable_venue(session, principal, venue_id)
    filters = EventFilters(venue_id=venue_id, status=status)
    return await _cached_list(session, kv, principal, filters, page)


@router.post(
    "",
    status_code=201,
    response_model=Ok[EventRead],
    responses={**WITH_BODY, **errors(404, 409), **EVENT_CREATED},
)
async def create_event(
    body: EventCreate, session: DbSession, kv: KeyValue, principal: Caller
) -> dict[str, Any]:
    event = await service.create_event(session, kv, principal, body, utc_now())
    return ok(service.event_view(event))


@router.get("/{event_id}", response_model=Ok[EventRead], responses=errors(404))
async def get_event(
    event_id: uuid.UUID, session: DbSession, kv: KeyValue, principal: Caller
) -> dict[str, Any]:
    async def load() -> dict[str, Any] | None:
        found = await visible_event(session, principal, event_id)
        return service.event_view(found)

    view = await cache.cached(kv, event_id=event_id, kind="page", params=None, load=load)
    is_draft = view["status"] == EventStatus.DRAFT
    if is_draft and not principal.can_read_venue(view["venue_id"]):
        raise NotFound("Event not found")
    return ok(view)


@router.put("/{event_id}", response_model=Ok[EventRead], responses=CHANGES)
async def update_event(
    event_id: uuid.UUID,
    body: EventUpdate,
    session: DbSession,
    kv: KeyValue,
    principal: Caller,
) -> dict[str, Any]:
    event = await service.update_event(session, kv, principal, event_id, body, utc_now())
    return ok(service.event_view(event))


@router.delete("/{event_id}", response_model=Ok[EventDeleted], responses=errors(404, 409))
async def delete_event(
    event_id: uuid.UUID, session: DbSession, kv: KeyValue, principal: Caller
) -> dict[str, Any]:
    await service.delete_event(session, kv, principal, event_id, utc_now())
    return ok({"id": str(event_id), "deleted": True})


@router.post("/{event_id}/publish", response_model=Ok[EventRead], responses=errors(404, 409))
async def publish_event(
    event_id: uuid.UUID, session: DbSession, kv: KeyValue, principal: Caller
) -> dict[str, Any]:
    event = await service.publish_event(session, kv, principal, event_id, utc_now())
    return ok(service.event_view(event))


@router.get("/{event_id}/analytics", response_model=Ok[EventAnalytics], responses=errors(404))
async def event_analytics(
    event_id: uuid.UUID, session: DbSession, principal: Caller
) -> dict[str, Any]:
    return ok(await capacity.event_analytics(session, principal, event_id))


@router.get("/{event_id}/capacity", response_model=Ok[Capacity], responses=errors(404))
async def get_capacity(
    event_id: uuid.UUID, session: DbSession, kv: KeyValue, principal: Caller
) -> dict[str, Any]:
    await visible_event(session, principal, event_id)

    async def load() -> dict[str, int]:
        return await capacity.capacity_of(session, event_id)

    return ok(await cache.cached(kv, event_id=event_id, kind="capacity", params=None, load=load))


@router.put("/{event_id}/capacity", response_model=Ok[Capacity], responses=CHANGES)
async def put_capacity(
    event_id: uuid.UUID,
    body: CapacityUpdate,
    session: DbSession,
    kv: KeyValue,
    principal: Caller,
) -> dict[str, Any]:
    result = await capacity.change_capacity(
        session, kv, principal, event_id, body.capacity, utc_now()
    )
    return ok(result)
