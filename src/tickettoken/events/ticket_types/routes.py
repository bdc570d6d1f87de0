"""HTTP routes of ticket types (SPEC 4.1)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from tickettoken.events.dependencies import DbSession, KeyValue
from tickettoken.events.ticket_types import service
from tickettoken.events.ticket_types.schemas import TicketTypeCreate, TicketTypeUpdate
from tickettoken.kit.auth import Caller
from tickettoken.kit.pagination import ok

router = APIRouter(prefix="/api/v1/events/{event_id}/ticket-types", tags=["ticket types"])


@router.get("")
async def list_ticket_types(
    event_id: uuid.UUID, session: DbSession, principal: Caller
) -> dict[str, Any]:
    types = await service.list_ticket_types(session, principal, event_id)
    return ok([service.ticket_type_view(t) for t in types])


@router.post("", status_code=201)
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


@router.put("/{type_id}")
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
