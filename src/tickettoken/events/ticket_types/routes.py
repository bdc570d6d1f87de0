"""HTTP routes of ticket types (SPEC 4.1)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from tickettoken.events.dependencies import DbSession, KeyValue
from tickettoken.events.ticket_types import service
from tickettoken.events.ticket_types.schemas import (
    TicketTypeCreate,
    TicketTypeRead,
    TicketTypeUpdate,
)
from tickettoken.kit.auth import Caller
from tickettoken.kit.contracts import AUTHENTICATED, COMMON_ERRORS, Ok, created, errors, link
from tickettoken.kit.pagination import ok

router = APIRouter(
    prefix="/api/v1/events/{event_id}/ticket-types",
    tags=["ticket types"],
    responses={**COMMON_ERRORS, **AUTHENTICATED, **errors(404)},
)
CHANGES = errors(400, 409, 413)
_OF_EVENT = {"path.event_id": "$response.body#/data/event_id"}
_TYPE = {"ticket_type_id": "$response.body#/data/id"}
TYPE_CREATED = created(
    201,
    "The ticket type",
    UpdateTicketType=link(
        "/api/v1/events/{event_id}/ticket-types/{type_id}",
        "PUT",
        parameters={**_OF_EVENT, "path.type_id": "$response.body#/data/id"},
    ),
    CreateReservation=link(
        "/api/v1/events/{event_id}/reservations", "POST", parameters=_OF_EVENT, body=_TYPE
    ),
    CreatePricingRule=link(
        "/api/v1/events/{event_id}/pricing-rules", "POST", parameters=_OF_EVENT, body=_TYPE
    ),
)


@router.get("", response_model=Ok[list[TicketTypeRead]])
async def list_ticket_types(
    event_id: uuid.UUID, session: DbSession, principal: Caller
) -> dict[str, Any]:
    types = await service.list_ticket_types(session, principal, event_id)
    return ok([service.ticket_type_view(t) for t in types])


@router.post(
    "",
    status_code=201,
    response_model=Ok[TicketTypeRead],
    responses={**CHANGES, **TYPE_CREATED},
)
async def create_ticket_type(
    event_id: uuid.UUID,
    body: TicketTypeCreate,
    session: DbSession,
    kv: KeyValue,
    principal: Caller,
) -> dict[str, Any]:
    created = await service.create_ticket_type(
        session, kv, principal, event_id, body, datetime.now(UTC)
    )
    return ok(service.ticket_type_view(created))


@router.put("/{type_id}", response_model=Ok[TicketTypeRead], responses=CHANGES)
async def update_ticket_type(
    event_id: uuid.UUID,
    type_id: uuid.UUID,
    body: TicketTypeUpdate,
    session: DbSession,
    kv: KeyValue,
    principal: Caller,
) -> dict[str, Any]:
    updated = await service.update_ticket_type(
        session, kv, principal, event_id, type_id, body, datetime.now(UTC)
    )
    return ok(service.ticket_type_view(updated))
