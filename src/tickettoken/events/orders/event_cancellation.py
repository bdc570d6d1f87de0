"""Cancelling an event (SPEC 4.2): stop sales at once, release holds, queue refunds.

All of it happens in the request's transaction, in this order (``cancel_event``): the catalogue
locks the event's ticket types (waiting for holds in flight) and then the event, and marks it
cancelled (``events.service.start_cancellation``); every hold is released
(``reservations.service.release_event_holds``); then ``cancel_event_orders``. Jobs enqueued in
this transaction become visible to workers only when it commits, so a refund can never run for a
cancellation that rolled back, and a committed cancellation always has its refunds queued.

What ``cancel_event_orders`` does to the event's orders:

- paid / partially refunded orders: one ``refund-process`` job each, for the policy's amount
  (``full``: everything not refunded yet; ``partial``: ``refund_percentage`` of the total, capped
  at what is left; ``none``: no refund);
- pending orders (payment not back yet): cancelled, their quantity returned; a payment that
  still succeeds for them is refunded automatically (``payment_results``);
- every ticket of the event invalidated;
- each ticket holder notified once (one in-app notification per user, one e-mail per address),
  not once per ticket or order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.audit.service import (
    AuditContext,
    AuditRow,
    audit_context,
    entity_snapshot,
    record_audit,
    record_audits,
)
from tickettoken.events.cache import schedule_event_invalidation
from tickettoken.events.customers.models import Customer
from tickettoken.events.events.models import Event
from tickettoken.events.events.schemas import EventCancel
from tickettoken.events.events.service import event_view, start_cancellation
from tickettoken.events.inventory import service as inventory
from tickettoken.events.notifications.service import notification_view, notify_user
from tickettoken.events.orders import repository
from tickettoken.events.orders.models import OrderStatus, TicketStatus
from tickettoken.events.orders.service import (
    REFUNDABLE,
    queue_refund,
    refund_audit,
    refundable_amount,
)
from tickettoken.events.reservations.service import release_event_holds
from tickettoken.kit.auth import Principal
from tickettoken.kit.jobs import enqueue
from tickettoken.kit.jobs.templates import one_line
from tickettoken.kit.kv import KeyValueStore


@dataclass(frozen=True)
class EventOrdersCancellation:
    refunds_queued: int
    refund_amount: Decimal
    orders_cancelled: int
    tickets_invalidated: int
    holders_notified: int


async def cancel_event(
    session: AsyncSession,
    kv: KeyValueStore,
    principal: Principal,
    event_id: uuid.UUID,
    data: EventCancel,
    now: datetime,
) -> dict[str, Any]:
    """Cancel the event and everything sold for it, in the session's transaction."""
    event, before = await start_cancellation(session, principal, event_id, data, now)
    audit = audit_context(principal)
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
        session, principal, "cancel", "event", event.id, before, entity_snapshot(event)
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


def refund_for(
    total: Decimal, remaining: Decimal, policy: str, percentage: Decimal | None
) -> Decimal:
    if policy == "none":
        return Decimal("0.00")
    if policy == "partial":
        share = (total * (percentage or Decimal(0)) / 100).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )
        return min(share, remaining)
    return remaining


async def cancel_event_orders(
    session: AsyncSession,
    *,
    event_id: uuid.UUID,
    policy: str,
    refund_percentage: Decimal | None,
    reason: str,
    audit: AuditContext | None = None,
) -> EventOrdersCancellation:
    """What the cancellation does to the event's orders, each write audited as ``audit`` (the
    canceller's request) in the cancellation's transaction, set-based."""
    context = audit or audit_context()
    audits: list[AuditRow] = []
    now = datetime.now(UTC)
    affected = await _valid_tickets(session, event_id)
    refunds = 0
    refunded = Decimal("0.00")
    cancelled = 0
    for order in await repository.orders_of_event(session, event_id, REFUNDABLE):
        remaining = await refundable_amount(session, order)
        amount = refund_for(order.total, remaining, policy, refund_percentage)
        if amount > 0 and order.payment_intent_id:
            before = entity_snapshot(order)
            refund = await queue_refund(session, order, amount, "requested_by_customer")
            audits.append(
                AuditRow(context, "refund", "order", order.id, before, refund_audit(order, refund))
            )
            refunds += 1
            refunded += amount
    for order in await repository.orders_of_event(session, event_id, [OrderStatus.PENDING.value]):
        before = entity_snapshot(order)
        order.status = OrderStatus.CANCELLED.value
        order.cancelled_at = now
        items = await repository.items_of(session, [order.id])
        await inventory.return_reserved(
            session, inventory.per_ticket_type((i.ticket_type_id, i.quantity) for i in items)
        )
        cancelled += 1
        audits.append(
            AuditRow(context, "cancel", "order", order.id, before, entity_snapshot(order))
        )
    await session.flush()
    changed = await _invalidate_tickets(session, [ticket_id for ticket_id, _ in affected], now)
    holders = sorted({customer_id for _, customer_id in affected})
    notified = await _notify_holders(session, event_id, holders, reason, context, audits)
    await record_audits(session, audits)
    return EventOrdersCancellation(refunds, refunded, cancelled, changed, notified)


async def _valid_tickets(
    session: AsyncSession, event_id: uuid.UUID
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(ticket id, holder) of every ticket still valid before the cancellation: the ones it
    affects (refunded or invalidated by it). Tickets refunded or invalidated earlier are not
    counted and their holders are not told again."""
    rows = await session.execute(
        text(
            "SELECT id, customer_id FROM tickets"
            " WHERE event_id = :event_id AND status IN ('pending', 'issued')"
        ),
        {"event_id": event_id},
    )
    return [(row.id, row.customer_id) for row in rows]


async def _invalidate_tickets(
    session: AsyncSession, ticket_ids: list[uuid.UUID], now: datetime
) -> int:
    """Invalidate what the refunds left valid; the number of ``ticket_ids`` now no longer valid
    (refunded by this cancellation's refunds or invalidated here)."""
    if not ticket_ids:
        return 0
    await session.execute(
        text(
            "UPDATE tickets SET status = :status, invalidated_at = :now"
            " WHERE id = ANY(:ids) AND status IN ('pending', 'issued')"
        ),
        {"status": TicketStatus.INVALIDATED.value, "now": now, "ids": ticket_ids},
    )
    changed = await session.scalar(
        text(
            "SELECT count(*) FROM tickets"
            " WHERE id = ANY(:ids) AND status NOT IN ('pending', 'issued')"
        ),
        {"ids": ticket_ids},
    )
    return int(changed or 0)


async def _notify_holders(
    session: AsyncSession,
    event_id: uuid.UUID,
    customer_ids: list[uuid.UUID],
    reason: str,
    context: AuditContext,
    audits: list[AuditRow],
) -> int:
    """One message per holder of an affected ticket (distinct customer), however many tickets
    they hold."""
    if not customer_ids:
        return 0
    event = await session.get(Event, event_id)
    name = event.name if event else "your event"
    holders = await session.execute(
        select(Customer).where(Customer.id.in_(customer_ids)).order_by(Customer.id)
    )
    notified = 0
    users_done: set[str] = set()
    for customer in holders.scalars():
        message = f"{name} has been cancelled: {reason}. Any refund is on its way."
        if customer.user_id and customer.user_id not in users_done:
            users_done.add(customer.user_id)
            notification = await notify_user(
                session,
                customer.user_id,
                "event_cancelled",
                f"{name} is cancelled",
                message,
                {"event_id": str(event_id)},
            )
            after = notification_view(notification)
            audits.append(AuditRow(context, "create", "notification", notification.id, None, after))
        if customer.email:
            await enqueue(
                session,
                queue="communication",
                type="send-email",
                payload={
                    "message_id": f"event-cancelled:{event_id}:{customer.id}",
                    "to": customer.email,
                    "template": "event-cancelled",
                    "data": {"event_name": one_line(name), "reason": one_line(reason)},
                },
            )
        notified += 1
    return notified
