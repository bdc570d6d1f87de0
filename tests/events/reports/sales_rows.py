"""Orders written straight to the database with chosen amounts and dates, for report tests."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def insert_customer(
    session: AsyncSession, venue_id: uuid.UUID, user_id: str | None = None
) -> uuid.UUID:
    customer_id: uuid.UUID = (
        await session.execute(
            text(
                "INSERT INTO customers (venue_id, email, first_name, user_id)"
                " VALUES (:venue_id, :email, 'Test', :user_id) RETURNING id"
            ),
            {
                "venue_id": venue_id,
                "email": f"{uuid.uuid4().hex[:12]}@example.com",
                "user_id": user_id,
            },
        )
    ).scalar_one()
    return customer_id


async def insert_order(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID,
    event_id: uuid.UUID,
    ticket_type_id: uuid.UUID,
    quantity: int,
    unit_price: Decimal,
    status: str,
    paid_at: datetime | None,
    refunded: Decimal = Decimal("0.00"),
    ticket_status: str = "issued",
) -> uuid.UUID:
    total = unit_price * quantity
    order_id: uuid.UUID = (
        await session.execute(
            text(
                "INSERT INTO orders (customer_id, event_id, status, total, refunded_amount,"
                " paid_at, created_at) VALUES (:customer_id, :event_id, :status, :total, :refunded,"
                " :paid_at, coalesce(:paid_at, now())) RETURNING id"
            ),
            {
                "customer_id": customer_id,
                "event_id": event_id,
                "status": status,
                "total": total,
                "refunded": refunded,
                "paid_at": paid_at,
            },
        )
    ).scalar_one()
    item_id = (
        await session.execute(
            text(
                "INSERT INTO order_items (order_id, ticket_type_id, quantity, unit_price, subtotal)"
                " VALUES (:order_id, :tt, :q, :price, :total) RETURNING id"
            ),
            {
                "order_id": order_id,
                "tt": ticket_type_id,
                "q": quantity,
                "price": unit_price,
                "total": total,
            },
        )
    ).scalar_one()
    for _ in range(quantity):
        await session.execute(
            text(
                "INSERT INTO tickets (order_id, order_item_id, event_id, ticket_type_id,"
                " customer_id, status, code) VALUES (:o, :i, :e, :t, :c, :s, :code)"
            ),
            {
                "o": order_id,
                "i": item_id,
                "e": event_id,
                "t": ticket_type_id,
                "c": customer_id,
                "s": ticket_status,
                "code": uuid.uuid4().hex,
            },
        )
    return order_id
