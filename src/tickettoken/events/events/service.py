"""Event rules (SPEC 4.2): validations on create and move, the state machine, soft delete.

Every write locks the event row (``FOR UPDATE``), writes an audit record and schedules the
event's cache invalidation for after the commit.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.audit.service import (
    AuditRow,
    entity_snapshot,
    record_audit,
    record_audits,
    system_context,
)
from tickettoken.events.cache import schedule_event_invalidation
from tickettoken.events.events import repository
from tickettoken.events.events.access import (
    ensure_can_manage,
    managed_event_stopping_sales,
    visible_venue_ids,
)

# The access rules other domains apply to the events they touch, re-exported: other domains use
# this service, never ``access`` itself.
from tickettoken.events.events.access import managed_event as managed_event
from tickettoken.events.events.access import staff_event as staff_event
from tickettoken.events.events.access import visible_event as visible_event
from tickettoken.events.events.models import Event, EventStatus
from tickettoken.events.events.schemas import (
    EventCancel,
    EventCreate,
    EventFilters,
    EventRead,
    EventUpdate,
    RefundPolicy,
)
from tickettoken.events.events.state_machine import FINAL, ensure_transition
from tickettoken.events.venues.models import Venue
from tickettoken.events.venues.service import find_venue
from tickettoken.kit.auth import Principal
from tickettoken.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tickettoken.kit.kv import KeyValueStore
from tickettoken.kit.pagination import PageParams

EARLIEST_START = timedelta(hours=2)
LATEST_START = timedelta(days=365)
SOLD_OUT_SYNC = system_context("sold-out-sync")
DUPLICATE_MESSAGE = "An event with this name already exists at this venue on this date"


def event_view(event: Event) -> dict[str, Any]:
    return EventRead.model_validate(event).model_dump(mode="json")


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details=[{"field": f"body.{field}", "message": message}])


def check_start_window(start: datetime, now: datetime) -> None:
    if start < now + EARLIEST_START:
        raise _invalid("start_date", "start_date must be at least 2 hours from now")
    if start > now + LATEST_START:
        raise _invalid("start_date", "start_date must be within 365 days from now")


async def _venue_for_event(
    session: AsyncSession, principal: Principal, venue_id: uuid.UUID, capacity: int
) -> Venue:
    ensure_can_manage(principal, venue_id)
    venue = await find_venue(session, venue_id)
    if venue is None:
        raise NotFound("Venue not found")
    if capacity > venue.capacity:
        raise _invalid("capacity", f"capacity exceeds the venue's capacity ({venue.capacity})")
    return venue


async def _flush_unique(session: AsyncSession) -> None:
    """Flush, turning the duplicate-name index (a concurrent twin) into a 409."""
    try:
        await session.flush()
    except IntegrityError as exc:
        if "events_venue_id_name_start_date_unique" in str(exc.orig):
            raise Conflict(DUPLICATE_MESSAGE) from exc
        raise


async def create_event(
    session: AsyncSession,
    kv: KeyValueStore,
    principal: Principal,
    data: EventCreate,
    now: datetime,
) -> Event:
    await _venue_for_event(session, principal, data.venue_id, data.capacity)
    check_start_window(data.start_date, now)
    if await repository.duplicate_exists(session, data.venue_id, data.name, data.start_date, None):
        raise Conflict(DUPLICATE_MESSAGE)
    event = Event(
        **data.model_dump(exclude={"metadata", "category"}),
        category=data.category.value,
        metadata_=data.metadata,
        status=EventStatus.DRAFT.value,
        created_by=principal.sub,
    )
    session.add(event)
    await _flush_unique(session)
    await record_audit(
        session, principal, "create", "event", event.id, None, entity_snapshot(event)
    )
    schedule_event_invalidation(session, kv, event.id)
    return event


async def list_events(
    session: AsyncSession, principal: Principal, filters: EventFilters, page: PageParams
) -> tuple[list[Event], int]:
    rows, total = await repository.list_events(
        session,
        filters,
        visible_venue_ids=visible_venue_ids(principal),
        offset=page.offset,
        limit=page.limit,
    )
    return list(rows), total


def ensure_not_past(event: Event, now: datetime) -> None:
    if event.start_date <= now:
        raise Conflict("The event has already started; it cannot be modified")


def ensure_started(event: Event, now: datetime) -> None:
    """``completed`` only once the event has started: completed is final, and an event completed
    early could never be cancelled, so its buyers would never be refunded."""
    if event.status != EventStatus.COMPLETED and event.start_date > now:
        raise Conflict("The event has not started yet; it cannot be completed")


def ensure_modifiable(event: Event, now: datetime) -> None:
    """409 for an event that is cancelled or completed (final) or has already started."""
    if event.status in FINAL:
        raise Conflict(f"The event is {event.status}; it cannot be modified")
    ensure_not_past(event, now)


async def update_event(
    session: AsyncSession,
    kv: KeyValueStore,
    principal: Principal,
    event_id: uuid.UUID,
    data: EventUpdate,
    now: datetime,
) -> Event:
    event = await managed_event(session, principal, event_id)
    changes = data.model_dump(exclude_unset=True)
    status = changes.pop("status", None)
    if changes:
        ensure_modifiable(event, now)
    elif status == EventStatus.COMPLETED:
        ensure_started(event, now)
    else:
        ensure_not_past(event, now)
    before = entity_snapshot(event)
    if changes:
        await _apply_changes(session, principal, event, changes, now)
    if status is not None and status != event.status:
        if status == EventStatus.CANCELLED:
            raise Conflict("Cancel an event with POST /api/v1/events/{id}/cancel and a reason")
        await _transition(session, event, EventStatus(status), now)
    await _flush_unique(session)
    await record_audit(
        session, principal, "update", "event", event.id, before, entity_snapshot(event)
    )
    schedule_event_invalidation(session, kv, event.id)
    return event


async def _apply_changes(
    session: AsyncSession,
    principal: Principal,
    event: Event,
    changes: dict[str, Any],
    now: datetime,
) -> None:
    venue_id = changes.get("venue_id", event.venue_id)
    capacity = changes.get("capacity", event.capacity)
    start = changes.get("start_date", event.start_date)
    end = changes.get("end_date", event.end_date)
    doors_open = changes.get("doors_open", event.doors_open)
    if "venue_id" in changes or "capacity" in changes:
        await _venue_for_event(session, principal, venue_id, capacity)
    if "start_date" in changes:
        check_start_window(start, now)
    if end <= start:
        raise _invalid("end_date", "end_date must be after start_date")
    if doors_open is not None and doors_open > start:
        raise _invalid("doors_open", "doors_open must not be after start_date")
    if "capacity" in changes:
        totals = await repository.ticket_totals(session, event.id)
        if capacity < totals["quantity"]:
            raise Conflict(f"Ticket types of this event already hold {totals['quantity']} tickets")
    name = changes.get("name", event.name)
    moved = {"venue_id", "name", "start_date"} & changes.keys()
    if moved and await repository.duplicate_exists(session, venue_id, name, start, event.id):
        raise Conflict(DUPLICATE_MESSAGE)
    for field, value in changes.items():
        if field == "metadata":
            event.metadata_ = value
        elif field == "category":
            event.category = str(value)
        else:
            setattr(event, field, value)


async def _transition(
    session: AsyncSession, event: Event, target: EventStatus, now: datetime
) -> None:
    ensure_transition(event.status, target)
    if target == EventStatus.PUBLISHED:
        totals = await repository.ticket_totals(session, event.id)
        if totals["types"] == 0:
            raise Conflict("Add at least one ticket type before publishing")
        if event.published_at is None:
            event.published_at = now
    event.status = target.value


async def publish_event(
    session: AsyncSession,
    kv: KeyValueStore,
    principal: Principal,
    event_id: uuid.UUID,
    now: datetime,
) -> Event:
    event = await managed_event(session, principal, event_id)
    ensure_not_past(event, now)
    before = entity_snapshot(event)
    await _transition(session, event, EventStatus.PUBLISHED, now)
    await session.flush()
    await record_audit(
        session, principal, "publish", "event", event.id, before, entity_snapshot(event)
    )
    schedule_event_invalidation(session, kv, event.id)
    return event


async def delete_event(
    session: AsyncSession,
    kv: KeyValueStore,
    principal: Principal,
    event_id: uuid.UUID,
    now: datetime,
) -> None:
    event = await managed_event_stopping_sales(session, principal, event_id)
    totals = await repository.ticket_totals(session, event.id)
    if totals["sold"] > 0:
        raise Conflict("The event has sold tickets; cancel it instead of deleting it")
    if totals["reserved"] > 0:
        raise Conflict("The event has tickets on hold; cancel it instead of deleting it")
    before = entity_snapshot(event)
    event.deleted_at = now
    await session.flush()
    await record_audit(session, principal, "delete", "event", event.id, before, None)
    schedule_event_invalidation(session, kv, event.id)


async def sync_sold_out_status(
    session: AsyncSession, kv: KeyValueStore, event_id: uuid.UUID
) -> str:
    """For the sales side, after changing ``sold``/``reserved``: a published event with nothing
    left becomes ``sold_out``; a sold-out event with tickets back becomes ``published``, unless
    a person set it ``sold_out`` (``PUT``: sales stopped on purpose, reopened only by a person).

    Returns the (possibly new) status. Locks the event row only when the status seems to need a
    change, then decides again on what is committed now: sales on several instances re-sync one
    event at the same moment, and the one that locks second finds the change already made (which
    is not a conflict: the hold that asked for the re-sync has committed and must answer 201).
    Callers may hold ticket type locks: ticket types before event is the lock order everywhere.
    """
    event = await repository.get_event(session, event_id)
    if event is None:
        raise NotFound("Event not found")
    if _sold_out_change(event.status, await repository.ticket_totals(session, event_id)) is None:
        return event.status
    locked = await repository.get_event(session, event_id, for_update=True)
    assert locked is not None
    wanted = _sold_out_change(locked.status, await repository.ticket_totals(session, event_id))
    if wanted is None:
        return locked.status
    if wanted == EventStatus.PUBLISHED and await repository.sold_out_by_a_person(session, event_id):
        return locked.status  # a person stopped the sale; tickets coming back do not reopen it
    ensure_transition(locked.status, wanted)
    before = entity_snapshot(locked)
    locked.status = wanted.value
    await session.flush()
    await record_audits(
        session,
        [AuditRow(SOLD_OUT_SYNC, "update", "event", event_id, before, entity_snapshot(locked))],
    )
    schedule_event_invalidation(session, kv, event_id)
    return locked.status


def _sold_out_change(status: str, totals: dict[str, int]) -> EventStatus | None:
    """The status a published/sold-out event should move to for these ticket totals, if any."""
    nothing_left = totals["types"] > 0 and totals["sold"] + totals["reserved"] >= totals["quantity"]
    if status == EventStatus.PUBLISHED and nothing_left:
        return EventStatus.SOLD_OUT
    if status == EventStatus.SOLD_OUT and not nothing_left:
        return EventStatus.PUBLISHED
    return None


async def start_cancellation(
    session: AsyncSession,
    principal: Principal,
    event_id: uuid.UUID,
    data: EventCancel,
    now: datetime,
) -> tuple[Event, dict[str, Any]]:
    """The catalogue's half of cancelling an event (SPEC 4.2): sales stopped (the event's ticket
    types locked, then the event: inventory's lock order, so holds in flight finish first and
    later ones see the cancellation), the event marked cancelled. The event and its snapshot
    before; the sales side (``orders.service.cancel_event``) does the rest in the transaction."""
    event = await managed_event_stopping_sales(session, principal, event_id)
    if event.status == EventStatus.CANCELLED:
        raise Conflict("The event is already cancelled")
    ensure_transition(event.status, EventStatus.CANCELLED)
    if data.refund_policy is not RefundPolicy.FULL and not principal.is_admin:
        raise Forbidden("Only an administrator may choose a refund policy other than full")
    before = entity_snapshot(event)
    event.status = EventStatus.CANCELLED.value
    event.cancellation_reason = data.reason
    event.cancelled_at = now
    await session.flush()
    return event, before
