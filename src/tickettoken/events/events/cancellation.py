"""Cancelling an event (SPEC 4.2): stop sales at once, release holds, queue refunds.

All of it happens in the request's transaction, in this order: lock the event's ticket types
(waiting for reservations in flight, which lock a ticket type before reading the event's
status), then the event; mark it cancelled, release every hold, then ask the orders domain to
queue one refund job per paid order, cancel pending orders, invalidate tickets and notify each
holder once. Jobs
enqueued in this transaction become visible to workers only when it commits, so a refund can
never run for a cancellation that rolled back, and a committed cancellation always has its
refunds queued.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.audit.service import audit_context, entity_snapshot, record_audit
from tickettoken.events.cache import schedule_event_invalidation
from tickettoken.events.events.access import managed_event_stopping_sales
from tickettoken.events.events.models import EventStatus
from tickettoken.events.events.schemas import EventCancel, RefundPolicy
from tickettoken.events.events.service import event_view
from tickettoken.events.events.state_machine import ensure_transition
from tickettoken.events.orders.event_cancellation import cancel_event_orders
from tickettoken.events.reservations.service import release_event_holds
from tickettoken.kit.auth import Principal
from tickettoken.kit.errors import Conflict, Forbidden
from tickettoken.kit.kv import KeyValueStore


async def cancel_event(
    session: AsyncSession,
    kv: KeyValueStore,
    principal: Principal,
    event_id: uuid.UUID,
    data: EventCancel,
    request: Request | None,
    now: datetime,
) -> dict[str, Any]:
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
    audit = audit_context(principal, request)
    holds_released = await release_event_holds(session, event.id, audit)
    orders = await cancel_event_orders(
        session,
        event_id=event.id,
        policy=data.refund_policy.value,
        refund_percentage=data.refund_percentage,
        reason=data.reason,
        audit=audit,
    )
    await record_audit(
        session, principal, "cancel", "event", event.id, before, entity_snapshot(event), request
    )
    schedule_event_invalidation(session, kv, event.id)
    return {
        "event": event_view(event),
        "refund_policy": data.refund_policy.value,
        "refund_percentage": str(data.refund_percentage) if data.refund_percentage else None,
        "holds_released": holds_released,
        "refunds_queued": orders.refunds_queued,
        "refund_amount": f"{orders.refund_amount:.2f}",
        "orders_cancelled": orders.orders_cancelled,
        "tickets_invalidated": orders.tickets_invalidated,
        "holders_notified": orders.holders_notified,
    }
