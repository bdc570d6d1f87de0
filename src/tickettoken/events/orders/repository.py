"""Every query of orders, order items, tickets and refunds."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.customers.models import Customer
from tickettoken.events.events.models import Event
from tickettoken.events.orders.models import Order, OrderItem, OrderRefund, RefundStatus, Ticket
from tickettoken.events.reservations.models import Reservation

_Locked = TypeVar("_Locked", Order, OrderRefund)


async def _lock(session: AsyncSession, model: type[_Locked], row_id: uuid.UUID) -> _Locked | None:
    """The row, locked ``FOR UPDATE`` and read afresh (not the session's possibly stale copy)."""
    result = await session.execute(
        select(model)
        .where(model.id == row_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def lock_order(session: AsyncSession, order_id: uuid.UUID) -> Order | None:
    return await _lock(session, Order, order_id)


async def order_access(
    session: AsyncSession, order_id: uuid.UUID
) -> tuple[Order, uuid.UUID, str | None] | None:
    """The order, its event's venue and its customer's user id (for authorization)."""
    row = (
        await session.execute(
            select(Order, Event.venue_id, Customer.user_id)
            .join(Event, Event.id == Order.event_id)
            .join(Customer, Customer.id == Order.customer_id)
            .where(Order.id == order_id)
        )
    ).first()
    return (row[0], row[1], row[2]) if row else None


async def items_of(session: AsyncSession, order_ids: Sequence[uuid.UUID]) -> list[OrderItem]:
    result = await session.execute(
        select(OrderItem).where(OrderItem.order_id.in_(order_ids)).order_by(OrderItem.created_at)
    )
    return list(result.scalars())


async def refunds_of(session: AsyncSession, order_ids: Sequence[uuid.UUID]) -> list[OrderRefund]:
    result = await session.execute(
        select(OrderRefund)
        .where(OrderRefund.order_id.in_(order_ids))
        .order_by(OrderRefund.created_at, OrderRefund.id)
    )
    return list(result.scalars())


async def pending_refund_total(session: AsyncSession, order_id: uuid.UUID) -> Decimal:
    """What the provider has yet to confirm of the order's refunds."""
    total = (
        await session.execute(
            select(func.coalesce(func.sum(OrderRefund.amount), 0)).where(
                OrderRefund.order_id == order_id,
                OrderRefund.status == RefundStatus.PENDING.value,
            )
        )
    ).scalar_one()
    return Decimal(total)


async def lock_refund(session: AsyncSession, refund_id: uuid.UUID) -> OrderRefund | None:
    return await _lock(session, OrderRefund, refund_id)


async def tickets_of(session: AsyncSession, order_ids: Sequence[uuid.UUID]) -> list[Ticket]:
    result = await session.execute(
        select(Ticket).where(Ticket.order_id.in_(order_ids)).order_by(Ticket.code)
    )
    return list(result.scalars())


async def reservation_of(session: AsyncSession, order: Order) -> Reservation | None:
    if order.reservation_id is None:
        return None
    return await session.get(Reservation, order.reservation_id)


async def set_ticket_status(
    session: AsyncSession, order_id: uuid.UUID, status: str, *, when: datetime, column: str
) -> None:
    values: dict[str, object] = {"status": status, column: when}
    await session.execute(update(Ticket).where(Ticket.order_id == order_id).values(**values))


async def list_orders(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID | None,
    event_id: uuid.UUID | None,
    user_id: str | None,
    venue_ids: Sequence[str] | None,
    offset: int,
    limit: int,
) -> tuple[list[Order], int]:
    """Orders filtered by customer/event, limited to a user's or to some venues' orders."""
    query = select(Order).join(Event, Event.id == Order.event_id)
    if user_id is not None:
        query = query.join(Customer, Customer.id == Order.customer_id).where(
            Customer.user_id == user_id
        )
    if venue_ids is not None:
        query = query.where(Event.venue_id.in_([uuid.UUID(v) for v in venue_ids]))
    if customer_id is not None:
        query = query.where(Order.customer_id == customer_id)
    if event_id is not None:
        query = query.where(Order.event_id == event_id)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await session.execute(
        query.order_by(Order.created_at.desc(), Order.id).offset(offset).limit(limit)
    )
    return list(rows.scalars()), int(total)


async def orders_of_event(
    session: AsyncSession, event_id: uuid.UUID, statuses: Sequence[str]
) -> list[Order]:
    result = await session.execute(
        select(Order)
        .where(Order.event_id == event_id, Order.status.in_(statuses))
        .order_by(Order.id)
        .with_for_update()
    )
    return list(result.scalars())


async def pending_orders_past_deadline(
    session: AsyncSession, grace_seconds: int, batch: int
) -> list[uuid.UUID]:
    """Unpaid orders whose hold (plus the payment grace) is over (locked later, types first)."""
    rows = await session.execute(
        text(
            """
            SELECT o.id FROM orders o JOIN reservations r ON r.id = o.reservation_id
            WHERE o.status = 'pending'
              AND r.expires_at + make_interval(secs => :grace) <= now()
            ORDER BY o.id LIMIT :batch
            """
        ),
        {"grace": float(grace_seconds), "batch": batch},
    )
    return [row[0] for row in rows]
