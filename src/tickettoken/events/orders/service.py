"""Orders: confirmation of a hold, reading, refunds (SPEC 4.1, 4.2).

Confirmation creates the order, its item and one ticket per seat and enqueues ``payment-process``
in the request's transaction: the order and its payment job commit or roll back together. The
tickets stay counted as ``reserved`` until the payment result arrives (``payment_results``).
Refunds lock the order, so concurrent refunds can never exceed what was paid; each refund is a
row of ``order_refunds`` whose id is the ``refund-process`` job's idempotency key. A refund stays
``pending`` (the order keeps its status and its tickets) until the provider confirms it; only then
does it count in ``refunded_amount`` (``payment_results.apply_refund_succeeded``).
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.audit.service import (
    AuditRow,
    audit_context,
    entity_snapshot,
    record_audit,
    record_audits,
)
from tickettoken.events.events.models import Event
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
from tickettoken.events.orders.schemas import RefundCreate, ReservationConfirm
from tickettoken.events.orders.views import order_view
from tickettoken.events.reservations import service as reservations
from tickettoken.kit.auth import Principal, Role
from tickettoken.kit.errors import Conflict, Forbidden, NotFound
from tickettoken.kit.jobs import enqueue
from tickettoken.kit.money import to_cents
from tickettoken.kit.pagination import PageParams

REFUNDABLE = (OrderStatus.PAID.value, OrderStatus.PARTIALLY_REFUNDED.value)


async def confirm_reservation(
    session: AsyncSession,
    principal: Principal,
    reservation_id: uuid.UUID,
    data: ReservationConfirm,
) -> dict[str, Any]:
    visible = await reservations.get_visible_reservation(session, principal, reservation_id)
    if principal.role is not Role.CUSTOMER and not principal.can_manage_venue(visible["venue_id"]):
        raise Forbidden("Venue staff may not confirm reservations")
    context = audit_context(principal)
    held = await reservations.lock_reservation(session, reservation_id)
    if held is None:
        raise NotFound("Reservation not found")
    if held["status"] != "held":
        raise Conflict(f"The reservation is {held['status']}, not held")
    if held["expires_at"] <= datetime.now(UTC):
        raise Conflict("The reservation has expired")
    event = await session.get(Event, held["event_id"])
    if event is None or event.status not in ("published", "sold_out"):
        raise Conflict("The event is no longer on sale")

    order = Order(
        customer_id=held["customer_id"],
        event_id=held["event_id"],
        reservation_id=reservation_id,
        status=OrderStatus.PENDING.value,
        total=held["total"],
        currency=held["currency"],
    )
    session.add(order)
    await session.flush()
    item = OrderItem(
        order_id=order.id,
        ticket_type_id=held["ticket_type_id"],
        quantity=held["quantity"],
        unit_price=held["unit_price"],
        subtotal=held["total"],
    )
    session.add(item)
    await session.flush()
    tickets = [
        Ticket(
            order_id=order.id,
            order_item_id=item.id,
            event_id=order.event_id,
            ticket_type_id=item.ticket_type_id,
            customer_id=order.customer_id,
            status=TicketStatus.PENDING.value,
            code=secrets.token_urlsafe(18),
        )
        for _ in range(item.quantity)
    ]
    session.add_all(tickets)
    await reservations.mark_confirmed(session, reservation_id, order.id)
    payload: dict[str, Any] = {
        "order_id": str(order.id),
        "amount_cents": to_cents(order.total),
        "currency": order.currency.lower(),
        "venue_id": str(event.venue_id),
    }
    if data.payment_method:
        payload["payment_method"] = data.payment_method
    job = await enqueue(
        session,
        queue="money",
        type="payment-process",
        payload=payload,
        venue_id=str(event.venue_id),
    )
    order.payment_job_id = uuid.UUID(job.job_id)
    await session.flush()
    confirmed = {**held, "status": "confirmed", "order_id": order.id}
    await record_audits(
        session,
        [
            AuditRow(context, "confirm", "reservation", reservation_id, held, confirmed),
            AuditRow(context, "create", "order", order.id, None, _order_audit(order, item)),
        ],
    )
    view = order_view(order, [item], tickets, [])
    view["payment_job_id"] = job.job_id
    return view


def _order_audit(order: Order, item: OrderItem) -> dict[str, Any]:
    """An order as its audit row keeps it (with its item; ticket codes stay out of the log)."""
    return {**entity_snapshot(order), "items": [entity_snapshot(item)]}


async def visible_order(
    session: AsyncSession, principal: Principal, order_id: uuid.UUID
) -> tuple[Order, uuid.UUID]:
    """The order and its venue when the caller is its customer or reads its venue; else 404."""
    found = await repository.order_access(session, order_id)
    if found is None:
        raise NotFound("Order not found")
    order, venue_id, user_id = found
    allowed = (
        user_id == principal.sub
        if principal.role is Role.CUSTOMER
        else principal.can_read_venue(venue_id)
    )
    if not allowed:
        raise NotFound("Order not found")
    return order, venue_id


async def get_order(
    session: AsyncSession, principal: Principal, order_id: uuid.UUID
) -> dict[str, Any]:
    order, _ = await visible_order(session, principal, order_id)
    return (await views_of(session, [order]))[0]


async def views_of(session: AsyncSession, orders: list[Order]) -> list[dict[str, Any]]:
    ids = [order.id for order in orders]
    if not ids:
        return []
    items = await repository.items_of(session, ids)
    tickets = await repository.tickets_of(session, ids)
    refunds = await repository.refunds_of(session, ids)
    return [order_view(order, items, tickets, refunds) for order in orders]


async def list_orders(
    session: AsyncSession,
    principal: Principal,
    *,
    customer_id: uuid.UUID | None,
    event_id: uuid.UUID | None,
    page: PageParams,
) -> tuple[list[dict[str, Any]], int]:
    if principal.role is Role.CUSTOMER:
        scope: dict[str, Any] = {"user_id": principal.sub, "venue_ids": None}
    elif principal.role in (Role.ADMIN, Role.SERVICE):
        scope = {"user_id": None, "venue_ids": None}
    elif principal.role in (Role.VENUE_ADMIN, Role.VENUE_STAFF):
        scope = {"user_id": None, "venue_ids": sorted(principal.venue_ids)}
    else:
        raise Forbidden("Your role may not read orders")
    orders, total = await repository.list_orders(
        session,
        customer_id=customer_id,
        event_id=event_id,
        offset=page.offset,
        limit=page.limit,
        **scope,
    )
    return await views_of(session, orders), total


async def request_refund(
    session: AsyncSession,
    principal: Principal,
    order_id: uuid.UUID,
    data: RefundCreate,
) -> dict[str, Any]:
    _, venue_id = await visible_order(session, principal, order_id)
    if not principal.can_manage_venue(venue_id):
        raise Forbidden("Only the venue's administrators may refund orders")
    order = await repository.lock_order(session, order_id)
    if order is None:
        raise NotFound("Order not found")
    if order.status not in REFUNDABLE or not order.payment_intent_id:
        raise Conflict(f"A {order.status} order cannot be refunded")
    remaining = await refundable_amount(session, order)
    amount = data.amount if data.amount is not None else remaining
    if remaining <= 0:
        raise Conflict("The whole order is already refunded or being refunded")
    if amount > remaining:
        raise Conflict(f"At most {remaining} can still be refunded")
    before = entity_snapshot(order)
    refund = await queue_refund(session, order, amount, data.reason or "requested_by_customer")
    await record_audit(
        session,
        principal,
        "refund",
        "order",
        order.id,
        before,
        refund_audit(order, refund),
    )
    views = await views_of(session, [order])
    return {**views[0], "refund": refund}


async def refundable_amount(session: AsyncSession, order: Order) -> Decimal:
    """What may still be refunded of a locked order: neither confirmed nor pending yet."""
    pending = await repository.pending_refund_total(session, order.id)
    return order.total - order.refunded_amount - pending


async def queue_refund(
    session: AsyncSession,
    order: Order,
    amount: Decimal,
    reason: str,
    *,
    refund_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Record a pending refund of ``amount`` on a locked order and enqueue ``refund-process``.

    Nothing on the order changes until the provider confirms the refund.
    """
    refund = OrderRefund(
        id=refund_id or uuid.uuid4(),
        order_id=order.id,
        amount=amount,
        currency=order.currency,
        reason=reason if reason in STRIPE_REASONS else "requested_by_customer",
        status=RefundStatus.PENDING.value,
    )
    session.add(refund)
    await session.flush()
    job = await enqueue(
        session,
        queue="money",
        type="refund-process",
        payload={
            "refund_id": str(refund.id),
            "order_id": str(order.id),
            "payment_intent_id": order.payment_intent_id,
            "amount_cents": to_cents(amount),
            "reason": refund.reason,
        },
    )
    refund.job_id = uuid.UUID(job.job_id)
    await session.flush()
    return {
        "refund_id": str(refund.id),
        "amount": str(amount),
        "status": refund.status,
        "job_id": job.job_id,
    }


def refund_audit(order: Order, refund: dict[str, Any]) -> dict[str, Any]:
    """An order after a refund as its audit row keeps it, with the refund queued."""
    return {**entity_snapshot(order), "refund": refund}


STRIPE_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})
