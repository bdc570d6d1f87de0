"""Who may see and change an event: decided on the event's venue, never on the role alone.

Published (non-draft) events are public to every authenticated caller; drafts only to the staff
of their venue. Writes need the venue's admin: another venue's staff get 404 (existence never
leaks), read-only roles of the same venue or customers get 403.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.events import repository
from tickettoken.events.events.models import Event, EventStatus
from tickettoken.events.inventory import service as inventory
from tickettoken.kit.auth import Principal, Role
from tickettoken.kit.errors import Forbidden, NotFound

STAFF_ROLES = (Role.ADMIN, Role.SERVICE, Role.VENUE_ADMIN, Role.VENUE_STAFF)


def visible_venue_ids(principal: Principal) -> frozenset[str] | None:
    """Venues whose drafts the caller sees; ``None`` means all (admin, service)."""
    if principal.role in (Role.ADMIN, Role.SERVICE):
        return None
    if principal.role in (Role.VENUE_ADMIN, Role.VENUE_STAFF):
        return principal.venue_ids
    return frozenset()


def may_see(principal: Principal, event: Event) -> bool:
    return event.status != EventStatus.DRAFT or principal.can_read_venue(event.venue_id)


def ensure_staff_role(principal: Principal) -> None:
    if principal.role not in STAFF_ROLES:
        raise Forbidden("Your role may not do this")


def ensure_can_manage(principal: Principal, venue_id: uuid.UUID) -> None:
    ensure_staff_role(principal)
    if not principal.can_read_venue(venue_id):
        raise NotFound("Event not found")
    if not principal.can_manage_venue(venue_id):
        raise Forbidden("Venue staff have read-only access")


async def visible_event(session: AsyncSession, principal: Principal, event_id: uuid.UUID) -> Event:
    event = await repository.get_event(session, event_id)
    if event is None or not may_see(principal, event):
        raise NotFound("Event not found")
    return event


async def staff_event(session: AsyncSession, principal: Principal, event_id: uuid.UUID) -> Event:
    """The event if the caller is staff of its venue (or admin): analytics and the like."""
    ensure_staff_role(principal)
    event = await repository.get_event(session, event_id)
    if event is None or not principal.can_read_venue(event.venue_id):
        raise NotFound("Event not found")
    return event


async def managed_event(
    session: AsyncSession, principal: Principal, event_id: uuid.UUID, *, lock: bool = True
) -> Event:
    """The event, locked FOR UPDATE, if the caller may change it."""
    ensure_staff_role(principal)
    event = await repository.get_event(session, event_id, for_update=lock)
    if event is None or not principal.can_read_venue(event.venue_id):
        raise NotFound("Event not found")
    if not principal.can_manage_venue(event.venue_id):
        raise Forbidden("Venue staff have read-only access")
    return event


async def managed_event_stopping_sales(
    session: AsyncSession, principal: Principal, event_id: uuid.UUID
) -> Event:
    """Like ``managed_event``, for writes that must not race reservations (cancel, delete,
    capacity): locks every ticket type of the event first, then the event row.

    The order (ticket types, then event) is the one reservations use when they mark an event
    sold out, so the two can never deadlock; holding the ticket type locks makes the write wait
    for reservations in flight and makes reservations after it see its result.
    """
    await managed_event(session, principal, event_id, lock=False)
    await inventory.lock_event_ticket_types(session, event_id)
    event = await repository.get_event(session, event_id, for_update=True)
    if event is None:
        raise NotFound("Event not found")
    return event
