"""Orders with their payment jobs, made as the platform makes them (for the handler tests).

A payment job charges only a pending order whose own job it is (``orders.payment_job_id``), so
handler tests that charge must first have such orders: one venue, event and customer, then the
orders and their ``payment-process`` jobs in one transaction, set-based (thousands at once).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.events.reports.sales_rows import insert_customer
from tests.events.reservations.sales_catalog import insert_catalog

from tickettoken.kit.jobs import JobSpec, enqueue_many


@dataclass(frozen=True)
class OrderPayment:
    order_id: str
    job_id: str
    amount_cents: int


async def pending_orders_with_payment_jobs(
    session: AsyncSession, amounts_cents: Sequence[int], **payload: Any
) -> list[OrderPayment]:
    """Pending orders of these amounts (USD) and the payment job of each, in the caller's
    transaction; ``payload`` adds fields to every job (``payment_method``, ``customer_id``)."""
    catalog = await insert_catalog(session)
    customer = await insert_customer(session, catalog.venue_id)
    totals = [Decimal(cents) / 100 for cents in amounts_cents]
    rows = await session.execute(
        text(
            "INSERT INTO orders (customer_id, event_id, status, total, currency)"
            " SELECT :customer, :event, 'pending', t, 'USD'"
            " FROM unnest(CAST(:totals AS numeric[])) WITH ORDINALITY AS x(t, n)"
            " ORDER BY n RETURNING id, total"
        ),
        {"customer": customer, "event": catalog.event_id, "totals": totals},
    )
    orders = [(str(row.id), int(row.total * 100)) for row in rows]
    jobs = await enqueue_many(
        session,
        [
            JobSpec(
                "money",
                "payment-process",
                {"order_id": order_id, "amount_cents": cents, "currency": "usd", **payload},
                venue_id=str(catalog.venue_id),
            )
            for order_id, cents in orders
        ],
    )
    await session.execute(
        text(
            "UPDATE orders SET payment_job_id = x.job FROM unnest(CAST(:orders AS uuid[]),"
            " CAST(:jobs AS uuid[])) AS x(id, job) WHERE orders.id = x.id"
        ),
        {
            "orders": [uuid.UUID(order_id) for order_id, _ in orders],
            "jobs": [uuid.UUID(job.job_id) for job in jobs],
        },
    )
    return [
        OrderPayment(order_id, job.job_id, cents)
        for (order_id, cents), job in zip(orders, jobs, strict=True)
    ]
