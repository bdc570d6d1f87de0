"""What a payment's outcome does to its order (run by the job engine's result callbacks, in the
transaction that finishes the ``payment-process`` job), and the cancellation of unpaid orders.

Lock order, as everywhere on the sales side: the order's ticket types (id order), then the order.
- Success in time: the order is paid, its tickets issued, its quantity moves from ``reserved`` to
  ``sold``, and a ``send-email`` confirmation is queued.
- Success too late (the order was cancelled because its hold and the payment grace ran out, or its
  event was cancelled): the whole amount is refunded at once through ``refund-process``.
- Failure (declined, attempts exhausted): the order is cancelled, its quantity returns to sale.
- A refund confirmed by the provider counts on its order (refunded or partially refunded, the
  tickets of a fully refunded order refunded); a refund that fails for good is marked failed and
  the order stays as it was.

Every result is checked against the order before it is applied: the order's own payment job
(``orders.payment_job_id``), the order's amount and currency, the payment intent that job
created, a refund row of that order carried by that job. Anything else is logged as an anomaly
(``money_result_anomaly``) and changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.audit.service import (
    AuditRow,
    entity_snapshot,
    record_audits,
    system_context,
)
from tickettoken.events.customers.models import Customer
from tickettoken.events.events.models import Event
from tickettoken.events.inventory import service as inventory
from tickettoken.events.orders import repository
from tickettoken.events.orders.models import (
    Order,
    OrderItem,
    OrderRefund,
    OrderStatus,
    RefundStatus,
    Ticket,
    TicketStatus,
)
from tickettoken.events.orders.service import queue_refund
from tickettoken.events.reservations.service import payment_grace_seconds
from tickettoken.kit.db import Database
from tickettoken.kit.jobs import JobRecord, enqueue
from tickettoken.kit.jobs.templates import one_line
from tickettoken.kit.money import to_cents

log = structlog.get_logger(__name__)


async def _lock_order_and_types(
    session: AsyncSession, order_id: uuid.UUID
) -> tuple[Order, list[OrderItem]] | None:
    items = await repository.items_of(session, [order_id])
    await inventory.lock_ticket_types(session, [item.ticket_type_id for item in items])
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
    await inventory.return_reserved(session, _quantities(items))
    await session.flush()


def _quantities(items: list[OrderItem]) -> dict[uuid.UUID, int]:
    return inventory.per_ticket_type((item.ticket_type_id, item.quantity) for item in items)


async def payment_deadline(session: AsyncSession, order: Order) -> datetime | None:
    reservation = await repository.reservation_of(session, order)
    if reservation is None:
        return None
    grace = timedelta(seconds=payment_grace_seconds())
    return reservation.expires_at + grace


async def _audit(
    session: AsyncSession,
    action: str,
    entity: Order | OrderRefund,
    before: dict[str, Any] | None,
    actor: str,
) -> None:
    """The audit row of a write the platform made on a provider's answer (or its absence)."""
    entity_type = "order" if isinstance(entity, Order) else "refund"
    row = AuditRow(
        system_context(actor), action, entity_type, entity.id, before, entity_snapshot(entity)
    )
    await record_audits(session, [row])


def _anomaly(job: JobRecord, problem: str, **facts: Any) -> str:
    log.error(
        "money_result_anomaly", job_id=job.job_id, job_type=job.type, problem=problem, **facts
    )
    return "anomaly"


def _own_payment_job(order: Order, job: JobRecord) -> bool:
    return order.payment_job_id is not None and str(order.payment_job_id) == job.job_id


async def apply_payment_succeeded(
    session: AsyncSession, order_id: uuid.UUID, job: JobRecord, result: dict[str, Any]
) -> str:
    """Apply a successful charge; returns what happened (paid, refunded, already_applied,
    anomaly, unknown_order)."""
    locked = await _lock_order_and_types(session, order_id)
    if locked is None:
        return _anomaly(job, "payment for an order that does not exist", order_id=str(order_id))
    order, items = locked
    if not _own_payment_job(order, job):
        return _anomaly(job, "not the order's own payment job", order_id=str(order.id))
    intent_id = str(result.get("payment_intent_id") or "")
    amount = result.get("amount_cents")
    currency = str(result.get("currency") or "").lower()
    if not intent_id or amount != to_cents(order.total) or currency != order.currency.lower():
        return _anomaly(
            job,
            "charge does not match the order",
            order_id=str(order.id),
            charged=amount,
            currency=currency,
        )
    if order.payment_intent_id:
        if order.payment_intent_id == intent_id:
            return "already_applied"
        return _anomaly(job, "order already has another payment intent", order_id=str(order.id))
    now = datetime.now(UTC)
    event = await session.get(Event, order.event_id)
    deadline = await payment_deadline(session, order)
    in_time = deadline is None or now <= deadline
    before = entity_snapshot(order)
    actor = f"job:{job.job_id}"
    if order.status == OrderStatus.PENDING and in_time and event and event.status != "cancelled":
        order.status = OrderStatus.PAID.value
        order.paid_at = now
        order.payment_intent_id = intent_id
        await repository.set_ticket_status(
            session, order.id, TicketStatus.ISSUED.value, when=now, column="issued_at"
        )
        await inventory.move_reserved_to_sold(session, _quantities(items))
        await session.flush()
        await _audit(session, "pay", order, before, actor)
        await _queue_confirmation_email(session, order, event)
        return "paid"
    if order.status == OrderStatus.PENDING:
        await _cancel_locked_order(session, order, items, now)
    order.payment_intent_id = intent_id
    await session.flush()
    await queue_refund(
        session,
        order,
        order.total,
        "requested_by_customer",
        refund_id=uuid.uuid5(order.id, "late-payment"),
    )
    await _audit(session, "late_payment_refund", order, before, actor)
    log.info("late_payment_refund_queued", order_id=str(order.id))
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


async def apply_payment_failed(
    session: AsyncSession, order_id: uuid.UUID, job: JobRecord, error: str
) -> str:
    locked = await _lock_order_and_types(session, order_id)
    if locked is None:
        return _anomaly(job, "failed payment for an unknown order", order_id=str(order_id))
    order, items = locked
    if not _own_payment_job(order, job):
        return _anomaly(job, "not the order's own payment job", order_id=str(order.id))
    if order.status != OrderStatus.PENDING:
        return "already_final"
    before = entity_snapshot(order)
    await _cancel_locked_order(session, order, items, datetime.now(UTC))
    await _audit(session, "payment_failed", order, before, f"job:{job.job_id}")
    log.info("payment_failed_order_cancelled", order_id=str(order.id), error=error[:200])
    return "cancelled"


async def cancel_unpaid_order(session: AsyncSession, order_id: uuid.UUID) -> bool:
    locked = await _lock_order_and_types(session, order_id)
    if locked is None or locked[0].status != OrderStatus.PENDING:
        return False
    before = entity_snapshot(locked[0])
    await _cancel_locked_order(session, locked[0], locked[1], datetime.now(UTC))
    await _audit(session, "cancel_unpaid", locked[0], before, "hold-sweeper")
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


async def _own_refund(
    session: AsyncSession, job: JobRecord, statuses: tuple[str, ...]
) -> tuple[OrderRefund, Order] | str:
    """The refund this job carries (in one of ``statuses``) and its order, both locked; else the
    anomaly. A failed refund's job may succeed after an administrator requeued it."""
    try:
        refund_id = uuid.UUID(str(job.payload.get("refund_id")))
    except ValueError:
        return _anomaly(job, "refund_id is not a refund of the platform")
    order_id = (
        await session.execute(select(OrderRefund.order_id).where(OrderRefund.id == refund_id))
    ).scalar_one_or_none()
    order = await repository.lock_order(session, order_id) if order_id else None
    refund = await repository.lock_refund(session, refund_id)
    if refund is None or order is None:
        return _anomaly(job, "no such refund", refund_id=str(refund_id))
    if refund.job_id is None or str(refund.job_id) != job.job_id:
        return _anomaly(job, "not the refund's own job", refund_id=str(refund_id))
    if refund.status not in statuses:
        return _anomaly(job, f"refund is already {refund.status}", refund_id=str(refund_id))
    return refund, order


async def apply_refund_succeeded(
    session: AsyncSession, job: JobRecord, result: dict[str, Any]
) -> str:
    """The provider confirmed a refund: it now counts on its order (unless the provider's
    webhook already confirmed this very refund: ``provider_refunds``)."""
    statuses = (RefundStatus.PENDING, RefundStatus.FAILED, RefundStatus.SUCCEEDED)
    found = await _own_refund(session, job, statuses)
    if isinstance(found, str):
        return found
    refund, order = found
    if refund.status == RefundStatus.SUCCEEDED:
        confirmed = str(result.get("provider_refund_id") or "")
        if confirmed and refund.provider_refund_id == confirmed:
            return "already_confirmed"
        return _anomaly(job, "refund is already succeeded", refund_id=str(refund.id))
    intent = result.get("payment_intent_id")
    if result.get("amount_cents") != to_cents(refund.amount) or (
        intent and intent != order.payment_intent_id
    ):
        return _anomaly(job, "refund does not match the order", refund_id=str(refund.id))
    now = datetime.now(UTC)
    before = entity_snapshot(order)
    refund.status = RefundStatus.SUCCEEDED.value
    refund.provider_refund_id = str(result.get("provider_refund_id") or "") or None
    refund.confirmed_at = now
    order.refunded_amount = min(order.refunded_amount + refund.amount, order.total)
    fully = order.refunded_amount >= order.total
    order.status = (OrderStatus.REFUNDED if fully else OrderStatus.PARTIALLY_REFUNDED).value
    if fully:
        await session.execute(
            update(Ticket)
            .where(Ticket.order_id == order.id, Ticket.status == TicketStatus.ISSUED.value)
            .values(status=TicketStatus.REFUNDED.value, invalidated_at=now)
        )
    await session.flush()
    await _audit(session, "refund_confirmed", order, before, f"job:{job.job_id}")
    return order.status


async def apply_refund_failed(session: AsyncSession, job: JobRecord, error: str) -> str:
    """A refund that failed for good (declined, attempts exhausted) is marked failed; the order
    never counted it, so it stays as it was. The job stays in the failed jobs / dead letters."""
    found = await _own_refund(session, job, (RefundStatus.PENDING, RefundStatus.FAILED))
    if isinstance(found, str):
        return found
    refund, order = found
    before = entity_snapshot(refund)
    refund.status = RefundStatus.FAILED.value
    refund.error = error[:2000]
    await session.flush()
    await _audit(session, "refund_failed", refund, before, f"job:{job.job_id}")
    log.error("refund_failed", order_id=str(order.id), amount=str(refund.amount), error=error[:200])
    return "failed"
