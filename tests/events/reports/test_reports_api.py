"""Reports checked against sums computed here, independently of the SQL: many orders of the same
amount, refunds, unpaid and cancelled orders, events and venues without sales, scoping."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from tests.events.reports.sales_rows import insert_customer, insert_order
from tests.events.reservations.sales_catalog import insert_catalog, insert_ticket_type
from tests.support import auth_header

PAID = ("paid", "partially_refunded", "refunded")


@dataclass(frozen=True)
class Sale:
    customer: int
    quantity: int
    price: Decimal
    status: str
    day: int
    refunded: Decimal = Decimal("0.00")


SALES = [
    *(Sale(0, 2, Decimal("25.00"), "paid", 0) for _ in range(5)),  # same amount five times
    Sale(1, 2, Decimal("25.00"), "paid", 0),
    Sale(1, 1, Decimal("80.00"), "partially_refunded", 1, Decimal("30.00")),
    Sale(2, 3, Decimal("10.00"), "refunded", 1, Decimal("30.00")),
    Sale(2, 4, Decimal("25.00"), "paid", 40),
    Sale(3, 1, Decimal("99.00"), "pending", 1),
    Sale(3, 2, Decimal("99.00"), "cancelled", 2),
]
BASE = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday


@dataclass(frozen=True)
class World:
    venue_id: uuid.UUID
    empty_venue_id: uuid.UUID
    event_id: uuid.UUID
    quiet_event_id: uuid.UUID
    customers: list[uuid.UUID]


async def build_world(session: AsyncSession) -> World:
    catalog = await insert_catalog(session, quantity=1000)
    quiet = await insert_catalog(session, venue_id=catalog.venue_id, quantity=50)
    empty = await insert_catalog(session, quantity=10)
    customers = [await insert_customer(session, catalog.venue_id) for _ in range(5)]
    vip = await insert_ticket_type(session, catalog.event_id, quantity=100, price=Decimal("80"))
    for sale in SALES:
        await insert_order(
            session,
            customer_id=customers[sale.customer],
            event_id=catalog.event_id,
            ticket_type_id=vip if sale.price == Decimal("80.00") else catalog.ticket_type_id,
            quantity=sale.quantity,
            unit_price=sale.price,
            status=sale.status,
            paid_at=BASE + timedelta(days=sale.day) if sale.status in PAID else None,
            refunded=sale.refunded,
        )
    await session.commit()
    return World(catalog.venue_id, empty.venue_id, catalog.event_id, quiet.event_id, customers)


def expected(sales: list[Sale]) -> dict[str, object]:
    paid = [s for s in sales if s.status in PAID]
    gross = sum((s.price * s.quantity for s in paid), Decimal("0"))
    refunds = sum((s.refunded for s in paid), Decimal("0"))
    return {
        "orders": len(paid),
        "tickets": sum(s.quantity for s in paid),
        "gross": f"{gross:.2f}",
        "refunds": f"{refunds:.2f}",
        "net": f"{gross - refunds:.2f}",
    }


async def test_sales_report_by_day_week_and_month(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    token_for: Callable[..., str],
) -> None:
    world = await build_world(committed_session)
    admin = auth_header(token_for("admin"))
    params = {"venue_id": str(world.venue_id)}
    by_day = await sales_client.get("/api/v1/reports/sales", params=params, headers=admin)
    assert by_day.status_code == 200, by_day.text
    data = by_day.json()["data"]
    assert data["totals"] == expected(SALES)
    days: dict[str, list[Sale]] = defaultdict(list)
    for sale in SALES:
        if sale.status in PAID:
            days[(BASE + timedelta(days=sale.day)).date().isoformat()].append(sale)
    assert [p["period"] for p in data["periods"]] == sorted(days)
    for period in data["periods"]:
        assert {k: v for k, v in period.items() if k != "period"} == expected(
            days[period["period"]]
        )

    by_month = await sales_client.get(
        "/api/v1/reports/sales", params={**params, "group_by": "month"}, headers=admin
    )
    months = by_month.json()["data"]["periods"]
    assert [m["period"] for m in months] == ["2026-03-01", "2026-04-01"]
    assert months[1]["net"] == "100.00"

    by_week = await sales_client.get(
        "/api/v1/reports/sales", params={**params, "group_by": "week"}, headers=admin
    )
    assert by_week.json()["data"]["periods"][0]["period"] == "2026-03-02"
    assert by_week.json()["data"]["periods"][0]["orders"] == 8

    window = await sales_client.get(
        "/api/v1/reports/sales",
        params={**params, "from": "2026-03-03T00:00:00Z", "to": "2026-03-04T00:00:00Z"},
        headers=admin,
    )
    assert window.json()["data"]["totals"] == expected([s for s in SALES if s.day == 1])

    quiet = await sales_client.get(
        "/api/v1/reports/sales", params={"event_id": str(world.quiet_event_id)}, headers=admin
    )
    assert quiet.json()["data"]["periods"] == []
    assert quiet.json()["data"]["totals"]["net"] == "0.00"


async def test_venue_comparison_and_customer_insights(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    token_for: Callable[..., str],
) -> None:
    world = await build_world(committed_session)
    staff = auth_header(
        token_for("venue_staff", venue_ids=[str(world.venue_id), str(world.empty_venue_id)])
    )
    comparison = await sales_client.get("/api/v1/reports/venue-comparison", headers=staff)
    venues = {v["venue_id"]: v for v in comparison.json()["data"]["venues"]}
    assert set(venues) == {str(world.venue_id), str(world.empty_venue_id)}
    busy = venues[str(world.venue_id)]
    assert {k: busy[k] for k in ("orders", "tickets", "gross", "refunds", "net")} == expected(SALES)
    assert busy["events"] == 2
    paid = [s for s in SALES if s.status in PAID]
    gross = sum(s.price * s.quantity for s in paid)
    assert busy["average_ticket_price"] == f"{gross / sum(s.quantity for s in paid):.2f}"
    assert venues[str(world.empty_venue_id)]["net"] == "0.00"
    assert venues[str(world.empty_venue_id)]["orders"] == 0

    insights = await sales_client.get(
        "/api/v1/reports/customer-insights",
        params={"venue_id": str(world.venue_id)},
        headers=staff,
    )
    data = insights.json()["data"]
    per_customer: dict[int, list[Sale]] = defaultdict(list)
    for sale in paid:
        per_customer[sale.customer].append(sale)
    assert data["customers"] == 5
    assert data["buying_customers"] == len(per_customer)
    assert data["repeat_customers"] == sum(1 for v in per_customer.values() if len(v) > 1)
    order_average = sum(s.price * s.quantity for s in paid) / len(paid)
    assert data["average_order_value"] == f"{order_average:.2f}"
    top = data["top_customers"][0]
    nets = {
        c: sum(s.price * s.quantity - s.refunded for s in sales)
        for c, sales in per_customer.items()
    }
    best = max(nets, key=lambda c: nets[c])
    assert top["customer_id"] == str(world.customers[best])
    assert top["net"] == f"{nets[best]:.2f}"


async def test_report_access(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    token_for: Callable[..., str],
) -> None:
    world = await build_world(committed_session)
    path = "/api/v1/reports/sales"
    assert (await sales_client.get(path)).status_code == 401
    other = auth_header(token_for("venue_admin", venue_ids=[str(uuid.uuid4())]))
    for params in ({"venue_id": str(world.venue_id)}, {"event_id": str(world.event_id)}):
        assert (await sales_client.get(path, params=params, headers=other)).status_code == 404
    customer = auth_header(token_for("customer"))
    assert (await sales_client.get(path, headers=customer)).status_code == 403
    invalid = await sales_client.get(path, params={"group_by": "year"}, headers=other)
    assert invalid.status_code == 422
    assert invalid.json()["code"] == "VALIDATION_ERROR"
    mine = await sales_client.get(path, headers=other)
    assert mine.json()["data"]["totals"]["orders"] == 0
    for route in ("/api/v1/reports/venue-comparison", "/api/v1/reports/customer-insights"):
        assert (await sales_client.get(route)).status_code == 401
        assert (await sales_client.get(route, headers=customer)).status_code == 403
        bad = await sales_client.get(route, params={"from": "yesterday"}, headers=other)
        assert bad.status_code == 422
    # Moments outside what can be stored (year 1 at +02:03 is year 0 in UTC; found by
    # schemathesis as a 500) are refused; a moment without an offset is read as UTC and
    # compares with one that has one.
    for route in (path, "/api/v1/reports/venue-comparison", "/api/v1/reports/customer-insights"):
        extreme = {"to": "0001-01-01T00:01:01+02:03"}
        refused = await sales_client.get(route, params=extreme, headers=other)
        assert refused.status_code == 422 and refused.json()["code"] == "VALIDATION_ERROR"
        mixed = {"from": "2026-03-03T00:00:00", "to": "2026-03-04T00:00:00+01:00"}
        assert (await sales_client.get(route, params=mixed, headers=other)).status_code == 200
