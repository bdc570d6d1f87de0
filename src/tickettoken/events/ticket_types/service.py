"""Ticket type rules: quantities within the event's capacity, and after the first sale only the
description, sale end and metadata may change (409 otherwise).

Creations lock the event row, so two concurrent creations cannot together exceed the capacity;
updates lock the ticket type row (the row reservations lock) and then the event row, the same
order reservations use.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.audit.service import entity_snapshot, record_audit
from tickettoken.events.cache import schedule_event_invalidation
from tickettoken.events.events.models import Event
from tickettoken.events.events.service import ensure_modifiable, managed_event, visible_event
from tickettoken.events.ticket_types import repository
from tickettoken.events.ticket_types.models import TicketType
from tickettoken.events.ticket_types.schemas import (
    CHANGEABLE_AFTER_SALE,
    TicketTypeCreate,
    TicketTypeRead,
    TicketTypeUpdate,
)
from tickettoken.kit.auth import Principal
from tickettoken.kit.errors import Conflict, NotFound, ValidationFailed
from tickettoken.kit.kv import KeyValueStore


def ticket_type_view(ticket_type: TicketType) -> dict[str, Any]:
    return TicketTypeRead.model_validate(ticket_type).model_dump(mode="json")


async def list_ticket_types(
    session: AsyncSession, principal: Principal, event_id: uuid.UUID
) -> list[TicketType]:
    event = await visible_event(session, principal, event_id)
    return list(await repository.list_for_event(session, event.id))


async def _writable_event(
    session: AsyncSession, principal: Principal, event_id: uuid.UUID, now: datetime
) -> Event:
    event = await managed_event(session, principal, event_id)
    ensure_modifiable(event, now)
    return event


async def _flush_unique_name(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        if "ticket_types_event_id_name_unique" in str(exc.orig):
            raise Conflict("This event already has a ticket type with that name") from exc
        raise


async def create_ticket_type(
    session: AsyncSession,
    kv: KeyValueStore,
    principal: Principal,
    event_id: uuid.UUID,
    data: TicketTypeCreate,
    now: datetime,
) -> TicketType:
    event = await _writable_event(session, principal, event_id, now)
    already = await repository.total_quantity(session, event.id)
    if already + data.quantity > event.capacity:
        raise Conflict(
            f"Ticket types would hold {already + data.quantity} tickets;"
            f" the event's capacity is {event.capacity}"
        )
    ticket_type = TicketType(
        event_id=event.id, **data.model_dump(exclude={"metadata"}), metadata_=data.metadata
    )
    session.add(ticket_type)
    await _flush_unique_name(session)
    await record_audit(
        session,
        principal,
        "create",
        "ticket_type",
        ticket_type.id,
        None,
        entity_snapshot(ticket_type),
    )
    schedule_event_invalidation(session, kv, event.id)
    return ticket_type


async def update_ticket_type(
    session: AsyncSession,
    kv: KeyValueStore,
    principal: Principal,
    event_id: uuid.UUID,
    type_id: uuid.UUID,
    data: TicketTypeUpdate,
    now: datetime,
) -> TicketType:
    await managed_event(session, principal, event_id, lock=False)
    ticket_type = await repository.get_for_event(session, event_id, type_id, for_update=True)
    if ticket_type is None:
        raise NotFound("Ticket type not found")
    event = await _writable_event(session, principal, event_id, now)
    changes = data.model_dump(exclude_unset=True)
    if ticket_type.sold > 0:
        locked = sorted(set(changes) - CHANGEABLE_AFTER_SALE)
        if locked:
            raise Conflict(
                "Tickets of this type have been sold; only description, sale_end and metadata"
                f" may change (not {', '.join(locked)})"
            )
    _check_window(changes, ticket_type)
    if "quantity" in changes:
        quantity = changes["quantity"]
        if quantity < ticket_type.sold + ticket_type.reserved:
            raise Conflict("quantity cannot go below the tickets sold and reserved")
        others = await repository.total_quantity(session, event.id, excluding=ticket_type.id)
        if others + quantity > event.capacity:
            raise Conflict(f"Ticket types would exceed the event's capacity ({event.capacity})")
    before = entity_snapshot(ticket_type)
    for name, value in changes.items():
        setattr(ticket_type, "metadata_" if name == "metadata" else name, value)
    await _flush_unique_name(session)
    await record_audit(
        session,
        principal,
        "update",
        "ticket_type",
        ticket_type.id,
        before,
        entity_snapshot(ticket_type),
    )
    schedule_event_invalidation(session, kv, event.id)
    return ticket_type


def _check_window(changes: dict[str, Any], ticket_type: TicketType) -> None:
    start = changes.get("sale_start", ticket_type.sale_start)
    end = changes.get("sale_end", ticket_type.sale_end)
    if start is not None and end is not None and end <= start:
        raise ValidationFailed(
            "sale_end must be after sale_start",
            details=[{"field": "body.sale_end", "message": "must be after sale_start"}],
        )


async def ticket_type_of_event(
    session: AsyncSession, event_id: uuid.UUID, ticket_type_id: uuid.UUID
) -> TicketType | None:
    """The event's ticket type or None, for other domains (pricing rules)."""
    return await repository.get_for_event(session, event_id, ticket_type_id)
