"""What a payment's outcome does to its order (run by the job engine's result callbacks, in the
transaction that finishes the ``payment-process`` job), and the cancellation of unpaid orders.

Lock order, as everywhere on the sales side: the order's ticket types (id order), then the order.
- Success in time: the order is paid, its tickets issued, its quantity moves from ``reserved`` to
  ``sold``, and a ``send-email`` confirmation is queued.
- Success too late (the order was cancelled because its hold and the payment grace ran out, or its
  event was cancelled): the whole amount is refunded at once through ``refund-process``.
- Failure (declined, attempts exhausted): the order is cancelled, its quantity returns to sale.
- A refund that fails for good is taken off the order's refunded amount again.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.customers.models import Customer
from tickettoken.events.events.models import Event
from tickettoken.events.orders import repository
from tickettoken.events.orders.models import Order, OrderItem, OrderStatus, Ticket, TicketStatus
from tickettoken.events.orders.service import to_cents
from tickettoken.events.reservations.repository import lock_ticket_types
from tickettoken.events.reservations.settings import get_sales_settings
from tickettoken.kit.db import Database
from tickettoken.kit.jobs import enqueue
from tickettoken.kit.jobs.templates import one_line

log = structlog.get_logger(__name__)


async def _lock_order_and_types(
    session: AsyncSession, order_id: uuid.UUID
) -> tuple[Order, list[OrderItem]] | None:
    items = await repository.items_of(session, [order_id])
    await lock_ticket_types(session, {item.ticket_type_id for item in items})
    order = await repository.lock_order(session, order_id)
    return (order, items) if order is not None else None


async def _cancel_locked_order(
    session: AsyncSession, order: Order, items: list[OrderItem], now: datetime
) -> None:
    order.status = OrderStatus.CANCELLED.value
    order.cancelled_at = now
    await repository.set_ticket_status(
        session, order.id, TicketStatus.INVALIDATED.value, when=now, column="invalidated_at"
    )
    for item in items:
        await repository.return_reserved(session, item.ticket_type_id, item.quantity)
    await session.flush()


async def payment_deadline(session: AsyncSession, order: Order) -> datetime | None:
    reservation = await repository.reservation_of(session, order)
    if reservation is None:
        return None
    grace = timedelta(seconds=get_sales_settings().payment_grace_seconds)
    return reservation.expires_at + grace


async def apply_payment_succeeded(
    session: AsyncSession, order_id: uuid.UUID, result: dict[str, Any]
) -> str:
    """Apply a successful charge; returns what happened (paid, refunded, already_applied)."""
    locked = await _lock_order_and_types(session, order_id)
    if locked is None:
        log.error("payment_for_unknown_order", order_id=str(order_id))
        return "unknown_order"
    order, items = locked
    intent_id = str(result.get("payment_intent_id") or "")
    if order.payment_intent_id and order.payment_intent_id == intent_id:
        return "already_applied"
    now = datetime.now(UTC)
    event = await session.get(Event, order.event_id)
    deadline = await payment_deadline(session, order)
    in_time = deadline is None or now <= deadline
    if order.status == OrderStatus.PENDING and in_time and event and event.status != "cancelled":
        order.status = OrderStatus.PAID.value
        order.paid_at = now
        order.payment_intent_id = intent_id or None
        await repository.set_ticket_status(
            session, order.id, TicketStatus.ISSUED.value, when=now, column="issued_at"
        )
        for item in items:
            await repository.move_reserved_to_sold(session, item.ticket_type_id, item.quantity)
        await session.flush()
        await _queue_confirmation_email(session, order, event)
        return "paid"
    if order.status == OrderStatus.PENDING:
        await _cancel_locked_order(session, order, items, now)
    order.payment_intent_id = intent_id or None
    order.refunded_amount = order.total
    order.status = OrderStatus.REFUNDED.value
    await session.flush()
    await enqueue(
        session,
        queue="money",
        type="refund-process",
        payload={
            "refund_id": str(uuid.uuid5(order.id, "late-payment")),
            "order_id": str(order.id),
            "payment_intent_id": intent_id,
            "amount_cents": to_cents(order.total),
            "reason": "requested_by_customer",
        },
    )
    log.info("late_payment_refunded", order_id=str(order.id))
    return "refunded"


async def _queue_confirmation_email(session: AsyncSession, order: Order, event: Event) -> None:
    customer = await session.get(Customer, order.customer_id)
    if customer is None or not customer.email:
        return
    count = sum(item.quantity for item in await repository.items_of(session, [order.id]))
    await enqueue(
        session,
        queue="communication",
        type="send-email",
        payload={
            "message_id": f"order-confirmation:{order.id}",
            "to": customer.email,
            "template": "order-confirmation",
            "data": {
                "order_id": str(order.id),
                "event_name": one_line(event.name),
                "tickets": count,
                "starts_at": f"{event.start_date:%Y-%m-%d %H:%M}",
                "total": str(order.total),
                "currency": order.currency,
            },
        },
    )


async def apply_payment_failed(session: AsyncSession, order_id: uuid.UUID, error: str) -> str:
    locked = await _lock_order_and_types(session, order_id)
    if locked is None:
        return "unknown_order"
    order, items = locked
    if order.status != OrderStatus.PENDING:
        return "already_final"
    await _cancel_locked_order(session, order, items, datetime.now(UTC))
    log.info("payment_failed_order_cancelled", order_id=str(order.id), error=error[:200])
    return "cancelled"


async def cancel_unpaid_order(session: AsyncSession, order_id: uuid.UUID) -> bool:
    locked = await _lock_order_and_types(session, order_id)
    if locked is None or locked[0].status != OrderStatus.PENDING:
        return False
    await _cancel_locked_order(session, locked[0], locked[1], datetime.now(UTC))
    return True


async def cancel_unpaid_orders(database: Database, grace_seconds: int) -> set[uuid.UUID]:
    """Cancel orders still unpaid after their hold plus the grace; returns the events touched."""
    async with database.transaction() as session:
        order_ids = await repository.pending_orders_past_deadline(session, grace_seconds, 200)
    events: set[uuid.UUID] = set()
    for order_id in order_ids:
        async with database.transaction() as session:
            if await cancel_unpaid_order(session, order_id):
                event_id = (
                    await session.execute(select(Order.event_id).where(Order.id == order_id))
                ).scalar_one()
                events.add(event_id)
    return events


async def apply_refund_failed(
    session: AsyncSession, order_id: uuid.UUID, amount_cents: int, error: str
) -> str:
    """A refund that failed for good (declined, attempts exhausted): the order no longer counts
    it as refunded. The job stays in the dead letters / failed jobs for an administrator."""
    order = await repository.lock_order(session, order_id)
    if order is None:
        return "unknown_order"
    amount = Decimal(amount_cents) / 100
    order.refunded_amount = max(order.refunded_amount - amount, Decimal("0.00"))
    if order.paid_at is None:
        order.status = OrderStatus.CANCELLED.value
    elif order.refunded_amount == 0:
        order.status = OrderStatus.PAID.value
    else:
        order.status = OrderStatus.PARTIALLY_REFUNDED.value
    if order.paid_at is not None:
        await session.execute(
            update(Ticket)
            .where(Ticket.order_id == order.id, Ticket.status == TicketStatus.REFUNDED.value)
            .values(status=TicketStatus.ISSUED.value, invalidated_at=None)
        )
    await session.flush()
    log.error("refund_failed", order_id=str(order.id), amount=str(amount), error=error[:200])
    return "reverted"
