"""Venue dashboard and analytics and event analytics, checked against sums computed here from
the orders the test writes (several orders of the same amount, refunds, an event with no sales)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.events.conftest import expect, future

Json = dict[str, Any]

# (status, total, refunded) of orders for one event; each order has 2 tickets at 50.00.
ORDERS = [
    ("paid", Decimal("100.00"), Decimal("0")),
    ("paid", Decimal("100.00"), Decimal("0")),
    ("partially_refunded", Decimal("100.00"), Decimal("30.00")),
    ("refunded", Decimal("100.00"), Decimal("100.00")),
    ("pending", Decimal("100.00"), Decimal("0")),
]
CHARGED = {"paid", "partially_refunded", "refunded"}
TICKETS_VALID = {"paid", "partially_refunded"}


async def write_orders(db: AsyncEngine, venue_id: str, event_id: str, type_id: str) -> None:
    async with db.begin() as conn:
        customer_id = await conn.scalar(
            sa.text("INSERT INTO customers (venue_id, email) VALUES (:venue, :email) RETURNING id"),
            {"venue": venue_id, "email": f"{uuid.uuid4().hex[:10]}@example.com"},
        )
        for status, total, refunded in ORDERS:
            order_id = await conn.scalar(
                sa.text(
                    "INSERT INTO orders (customer_id, event_id, status, total, refunded_amount)"
                    " VALUES (:customer, :event, :status, :total, :refunded) RETURNING id"
                ),
                {
                    "customer": customer_id,
                    "event": event_id,
                    "status": status,
                    "total": total,
                    "refunded": refunded,
                },
            )
            await conn.execute(
                sa.text(
                    "INSERT INTO order_items (order_id, ticket_type_id, quantity, unit_price,"
                    " subtotal) VALUES (:order, :type, 2, 50.00, 100.00)"
                ),
                {"order": order_id, "type": type_id},
            )
        sold = 2 * sum(1 for status, _, _ in ORDERS if status in TICKETS_VALID)
        await conn.execute(
            sa.text("UPDATE ticket_types SET sold = :sold WHERE id = :id"),
            {"sold": sold, "id": type_id},
        )


async def test_dashboard_analytics_and_event_analytics_match_independent_sums(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    headers_for: Callable[..., dict[str, str]],
    new_venue: Callable[..., Awaitable[Json]],
    new_event: Callable[..., Awaitable[Json]],
    new_ticket_type: Callable[..., Awaitable[Json]],
    db: AsyncEngine,
) -> None:
    venue = await new_venue()
    start = future(days=30)
    later = future(days=100)
    sold_event = await new_event(venue, category="concert")
    quiet_event = await new_event(venue, category="comedy")
    await new_event(
        venue,
        category="concert",
        start_date=later.isoformat(),
        end_date=(later + timedelta(hours=1)).isoformat(),
    )
    ticket_type = await new_ticket_type(sold_event, price="50.00", quantity=100)
    await new_ticket_type(quiet_event, quantity=10)
    expect(await client.post(f"/api/v1/events/{sold_event['id']}/publish", headers=admin), 200)
    await write_orders(db, venue["id"], sold_event["id"], ticket_type["id"])

    gross = sum((t for s, t, _ in ORDERS if s in CHARGED), Decimal(0))
    refunded = sum((r for s, _, r in ORDERS if s in CHARGED), Decimal(0))
    tickets = 2 * sum(1 for s, _, _ in ORDERS if s in TICKETS_VALID)
    staff = headers_for("venue_staff", venue_ids=[venue["id"]])

    dashboard = expect(
        await client.get(f"/api/v1/venues/{venue['id']}/dashboard", headers=staff), 200
    )["data"]
    assert dashboard["totals"]["events"] == 3
    assert dashboard["totals"]["tickets_sold"] == tickets
    assert dashboard["totals"]["orders"] == sum(1 for s, _, _ in ORDERS if s in CHARGED)
    assert dashboard["revenue"] == {
        "gross": f"{gross:.2f}",
        "refunded": f"{refunded:.2f}",
        "net": f"{gross - refunded:.2f}",
    }
    assert dashboard["category_distribution"] == [
        {"category": "comedy", "events": 1},
        {"category": "concert", "events": 2},
    ]
    assert [e["id"] for e in dashboard["upcoming_events"]] == [sold_event["id"]]  # no drafts
    assert dashboard["totals"]["upcoming_events"] == 1

    first, last = (start - timedelta(days=1)).date(), (start + timedelta(days=1)).date()
    window = f"start_date={first}&end_date={last}"
    analytics = expect(
        await client.get(f"/api/v1/venues/{venue['id']}/analytics?{window}", headers=staff), 200
    )["data"]
    assert analytics["categories"] == [
        {
            "category": "comedy",
            "events": 1,
            "tickets_sold": 0,
            "average_price": "0.00",
            "revenue": "0.00",
        },
        {
            "category": "concert",
            "events": 1,
            "tickets_sold": tickets,
            "average_price": "50.00",
            "revenue": f"{gross - refunded:.2f}",
        },
    ]

    event_analytics = expect(
        await client.get(f"/api/v1/events/{sold_event['id']}/analytics", headers=staff), 200
    )["data"]
    assert event_analytics["revenue"]["net"] == f"{gross - refunded:.2f}"
    assert event_analytics["ticket_types"][0]["sold"] == tickets
    assert event_analytics["ticket_types"][0]["revenue"] == f"{Decimal(50) * tickets:.2f}"
    assert event_analytics["capacity"]["sold"] == tickets


async def test_reports_of_a_venue_without_sales_are_zero_not_errors(
    client: httpx.AsyncClient, admin: dict[str, str], new_venue: Callable[..., Awaitable[Json]]
) -> None:
    venue = await new_venue()
    dashboard = expect(
        await client.get(f"/api/v1/venues/{venue['id']}/dashboard", headers=admin), 200
    )["data"]
    assert dashboard["revenue"] == {"gross": "0.00", "refunded": "0.00", "net": "0.00"}
    assert dashboard["totals"]["events"] == 0 and dashboard["category_distribution"] == []
    analytics = expect(
        await client.get(
            f"/api/v1/venues/{venue['id']}/analytics?start_date=2026-01-01&end_date=2027-12-31",
            headers=admin,
        ),
        200,
    )["data"]
    assert analytics["categories"] == []


async def test_customers_cannot_see_dashboards(
    client: httpx.AsyncClient,
    headers_for: Callable[..., dict[str, str]],
    new_venue: Callable[..., Awaitable[Json]],
) -> None:
    venue = await new_venue()
    customer = headers_for("customer")
    assert (await client.get(f"/api/v1/venues/{venue['id']}", headers=customer)).status_code == 200
    response = await client.get(f"/api/v1/venues/{venue['id']}/dashboard", headers=customer)
    assert response.status_code == 404
