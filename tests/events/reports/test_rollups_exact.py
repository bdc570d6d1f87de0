"""The rollups stay exactly the orders' figures through the real write paths: sales over HTTP,
payments approved and declined by the result callbacks, partial and full refunds settled
concurrently (two refunds of one order at once too), an event cancellation with its refunds, and
rows written directly. Every report and dashboard is then compared with sums computed here from
the order rows, and the rollup tables with a grouping of every order in the database."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.events.reports.sales_rows import insert_customer, insert_order
from tests.events.reservations.sales_catalog import insert_catalog
from tests.support import auth_header

from tickettoken.demo.provider import callbacks, settle_payment, settle_refunds
from tickettoken.events.reports import queries
from tickettoken.kit.db import Database

CHARGED = ("paid", "partially_refunded", "refunded")


async def _sell(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    event_id: uuid.UUID,
    type_id: uuid.UUID,
    n: int,
) -> dict[str, Any]:
    held = await client.post(
        f"/api/v1/events/{event_id}/reservations",
        json={
            "ticket_type_id": str(type_id),
            "quantity": n,
            "customer": {"email": f"{uuid.uuid4().hex[:12]}@example.com", "first_name": "Ro"},
        },
        headers=admin,
    )
    assert held.status_code == 201, held.text
    order = await client.post(
        f"/api/v1/reservations/{held.json()['data']['id']}/confirm", headers=admin
    )
    assert order.status_code == 201, order.text
    data: dict[str, Any] = order.json()["data"]
    return data


async def _refund(
    client: httpx.AsyncClient, admin: dict[str, str], order_id: str, amount: str | None
) -> None:
    body = {"amount": amount} if amount else {}
    response = await client.post(f"/api/v1/orders/{order_id}/refund", json=body, headers=admin)
    assert response.status_code == 202, response.text


async def _settle_refunds_concurrently(database: Database, order_ids: list[str]) -> None:
    """Each order's refunds settled in its own transaction, all at once."""
    registry = callbacks()

    async def settle(order_id: str) -> None:
        async with database.transaction() as session:
            await settle_refunds(session, registry, [order_id])

    await asyncio.gather(*(settle(order_id) for order_id in order_ids))


async def _settle_one_refund(database: Database, job_uuid: uuid.UUID) -> None:
    """One refund job of an order settled on its own (for two refunds of one order at once)."""
    from tickettoken.demo.provider import _take
    from tickettoken.kit.jobs.catalog import tier_for
    from tickettoken.queue.engine import store

    registry = callbacks()
    async with database.transaction() as session:
        record, row_id = await _take(session, str(job_uuid))
        result = {
            "refund_id": record.payload["refund_id"],
            "provider_refund_id": f"re_test_{job_uuid.hex[:20]}",
            "status": "succeeded",
            "amount_cents": record.payload["amount_cents"],
            "payment_intent_id": record.payload.get("payment_intent_id"),
        }
        await store.complete(session, tier_for(record.queue), "rollup-test", {row_id: result})
        for completed in registry.completed_callbacks.get(record.type, []):
            await completed(session, record, result)


async def _orders_of_venue(session: AsyncSession, venue_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(
            "SELECT o.id, o.customer_id, o.event_id, o.status, o.total, o.refunded_amount,"
            " coalesce(o.paid_at, o.created_at) AS sold_at,"
            " (SELECT coalesce(sum(quantity), 0) FROM order_items i WHERE i.order_id = o.id) AS q,"
            " (SELECT coalesce(sum(subtotal), 0) FROM order_items i WHERE i.order_id = o.id) AS v"
            " FROM orders o JOIN events e ON e.id = o.event_id WHERE e.venue_id = :v"
        ),
        {"v": venue_id},
    )
    await session.commit()
    return [dict(r) for r in rows.mappings()]


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


async def test_every_report_equals_the_orders_after_concurrent_refunds(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    database_url: str,
    token_for: Callable[..., str],
) -> None:
    session = committed_session
    main = await insert_catalog(session, quantity=500, price=Decimal("30.00"))
    doomed = await insert_catalog(session, venue_id=main.venue_id, quantity=100)
    customer = await insert_customer(session, main.venue_id)
    direct_day = datetime.now(UTC) - timedelta(days=3)
    for status, refunded in (("paid", "0"), ("partially_refunded", "7.50"), ("cancelled", "0")):
        await insert_order(
            session,
            customer_id=customer,
            event_id=main.event_id,
            ticket_type_id=main.ticket_type_id,
            quantity=3,
            unit_price=Decimal("12.50"),
            status=status,
            paid_at=direct_day if status != "cancelled" else None,
            refunded=Decimal(refunded),
        )
    await session.commit()
    admin = auth_header(token_for("admin"))
    database = Database(database_url)
    registry = callbacks()
    try:
        orders = [
            await _sell(sales_client, admin, main.event_id, main.ticket_type_id, n)
            for n in (1, 2, 3, 4, 2, 1, 5, 2)
        ]
        doomed_orders = [
            await _sell(sales_client, admin, doomed.event_id, doomed.ticket_type_id, 2)
            for _ in range(3)
        ]
        for number, order in enumerate(orders + doomed_orders):
            async with database.transaction() as tx:
                await settle_payment(tx, registry, order["payment_job_id"], approved=number != 5)
        pending = await _sell(sales_client, admin, doomed.event_id, doomed.ticket_type_id, 1)
        # full and partial refunds, settled all at once (same event, same day: one rollup row)
        for order, amount in zip(orders[:4], (None, "10.00", None, "5.55"), strict=True):
            await _refund(sales_client, admin, order["id"], amount)
        await _settle_refunds_concurrently(database, [o["id"] for o in orders[:4]])
        # two refunds of one order settled at the same moment
        await _refund(sales_client, admin, orders[6]["id"], "20.00")
        await _refund(sales_client, admin, orders[6]["id"], "30.00")
        jobs = await session.execute(
            text(
                "SELECT job_uuid FROM jobs_money WHERE type = 'refund-process'"
                " AND status = 'queued' AND payload->>'order_id' = :o"
            ),
            {"o": orders[6]["id"]},
        )
        job_ids = list(jobs.scalars().all())
        await session.commit()
        assert len(job_ids) == 2
        await asyncio.gather(*(_settle_one_refund(database, job) for job in job_ids))
        # the cancellation cancels the unpaid order and refunds the paid ones
        cancelled = await sales_client.post(
            f"/api/v1/events/{doomed.event_id}/cancel",
            json={"reason": "Flooded hall"},
            headers=admin,
        )
        assert cancelled.status_code == 200, cancelled.text
        await _settle_refunds_concurrently(database, [o["id"] for o in doomed_orders])
    finally:
        await database.dispose()
    rows = await _orders_of_venue(session, main.venue_id)
    statuses = {row["id"]: row["status"] for row in rows}
    assert statuses[uuid.UUID(pending["id"])] == "cancelled"
    assert statuses[uuid.UUID(orders[6]["id"])] == "partially_refunded"
    assert {"paid", "partially_refunded", "refunded", "cancelled"} <= set(statuses.values())
    charged = [row for row in rows if row["status"] in CHARGED]
    gross = sum((r["total"] for r in charged), Decimal(0))
    refunds = sum((r["refunded_amount"] for r in charged), Decimal(0))
    tickets = sum(int(r["q"]) for r in charged)
    assert refunds > 0
    venue = f"venue_id={main.venue_id}"

    # sales: totals, per day, and a window cutting days in the middle
    for group_by in ("day", "week", "month"):
        sales = (
            await sales_client.get(
                f"/api/v1/reports/sales?{venue}&group_by={group_by}", headers=admin
            )
        ).json()["data"]
        assert sales["totals"] == {
            "orders": len(charged),
            "tickets": tickets,
            "gross": _money(gross),
            "refunds": _money(refunds),
            "net": _money(gross - refunds),
        }
    by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in charged:
        by_day[row["sold_at"].astimezone(UTC).date().isoformat()].append(row)
    sales = (
        await sales_client.get(f"/api/v1/reports/sales?{venue}&group_by=day", headers=admin)
    ).json()["data"]
    assert {p["period"]: p["orders"] for p in sales["periods"]} == {
        d: len(r) for d, r in by_day.items()
    }
    cut_from = direct_day + timedelta(hours=1)  # leaves the rows written directly outside
    cut_to = datetime.now(UTC) + timedelta(minutes=1)  # mid-day too: an edge read from orders
    inside = [r for r in charged if cut_from <= r["sold_at"] < cut_to]
    window = (
        await sales_client.get(
            "/api/v1/reports/sales",
            params={
                "venue_id": str(main.venue_id),
                "from": cut_from.isoformat(),
                "to": cut_to.isoformat(),
            },
            headers=admin,
        )
    ).json()["data"]
    assert 0 < len(inside) < len(charged)
    assert window["totals"]["orders"] == len(inside)
    assert window["totals"]["net"] == _money(
        sum((r["total"] - r["refunded_amount"] for r in inside), Decimal(0))
    )
    # customer insights of that window, from each source the service may pick
    window_customers: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for row in inside:
        window_customers[row["customer_id"]].append(row)
    window_params = queries.filters([main.venue_id], None, cut_from, cut_to)
    for source in ("rollup", "subtract", "orders"):
        statement, bound = queries.customer_insights_statement(window_params, 10, source)
        got = (await session.execute(text(statement), bound)).mappings().one()
        await session.commit()
        if source == "rollup":  # the whole season: every sale of the venue
            assert got["buying_customers"] == len({r["customer_id"] for r in charged})
            continue
        assert got["buying_customers"] == len(window_customers), source
        assert got["repeat_customers"] == sum(1 for v in window_customers.values() if len(v) > 1)
        assert got["net"] == sum((r["total"] - r["refunded_amount"] for r in inside), Decimal(0))
    event = (
        await sales_client.get(f"/api/v1/reports/sales?event_id={doomed.event_id}", headers=admin)
    ).json()["data"]
    doomed_rows = [r for r in charged if r["event_id"] == doomed.event_id]
    assert event["totals"]["refunds"] == _money(
        sum((r["refunded_amount"] for r in doomed_rows), Decimal(0))
    )

    # venue comparison, customer insights, dashboard, analytics
    manager = auth_header(token_for("venue_admin", venue_ids=[str(main.venue_id)]))
    comparison = (
        await sales_client.get("/api/v1/reports/venue-comparison", headers=manager)
    ).json()["data"]
    assert [(v["orders"], v["tickets"], v["gross"], v["net"]) for v in comparison["venues"]] == [
        (len(charged), tickets, _money(gross), _money(gross - refunds))
    ]
    insights = (
        await sales_client.get(f"/api/v1/reports/customer-insights?{venue}", headers=admin)
    ).json()["data"]
    per_customer: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for row in charged:
        per_customer[row["customer_id"]].append(row)
    assert insights["buying_customers"] == len(per_customer)
    assert insights["repeat_customers"] == sum(1 for v in per_customer.values() if len(v) > 1)
    assert insights["net"] == _money(gross - refunds)
    assert insights["average_order_value"] == _money(
        (gross / len(charged)).quantize(Decimal("0.01"))
    )
    dashboard = (
        await sales_client.get(f"/api/v1/venues/{main.venue_id}/dashboard", headers=admin)
    ).json()["data"]
    assert dashboard["totals"]["orders"] == len(charged)
    assert dashboard["revenue"] == {
        "gross": _money(gross),
        "refunded": _money(refunds),
        "net": _money(gross - refunds),
    }
    today = datetime.now(UTC).date()
    analytics = (
        await sales_client.get(
            f"/api/v1/venues/{main.venue_id}/analytics",
            params={
                "start_date": (today - timedelta(days=1)).isoformat(),
                "end_date": (today + timedelta(days=30)).isoformat(),
            },
            headers=admin,
        )
    ).json()["data"]
    live = [r for r in charged if r["status"] in ("paid", "partially_refunded")]
    assert sum(c["tickets_sold"] for c in analytics["categories"]) == sum(int(r["q"]) for r in live)
    assert sum(Decimal(c["revenue"]) for c in analytics["categories"]) == gross - refunds


async def test_rollup_tables_equal_a_grouping_of_every_order(
    committed_session: AsyncSession,
) -> None:
    """Whatever the other tests of the session wrote, the rollups are the orders' sums."""
    session = committed_session
    mismatches = await session.execute(
        text(
            """
            WITH facts AS (
                SELECT o.venue_id, o.event_id, o.customer_id, o.status, o.total,
                       o.refunded_amount,
                       (coalesce(o.paid_at, o.created_at) AT TIME ZONE 'UTC')::date AS day,
                       (SELECT coalesce(sum(quantity), 0) FROM order_items i
                        WHERE i.order_id = o.id) AS q
                FROM orders o WHERE o.status IN ('paid', 'partially_refunded', 'refunded')
            ),
            expected AS (
                SELECT venue_id, event_id, day, count(*) AS orders, sum(q) AS tickets,
                       sum(total) AS gross, sum(refunded_amount) AS refunds
                FROM facts GROUP BY 1, 2, 3
            ),
            actual AS (
                SELECT venue_id, event_id, day, orders, tickets, gross, refunds
                FROM report_sales_daily WHERE orders <> 0 OR gross <> 0 OR tickets <> 0
            )
            (SELECT * FROM expected EXCEPT SELECT * FROM actual)
            UNION ALL (SELECT * FROM actual EXCEPT SELECT * FROM expected)
            """
        )
    )
    assert mismatches.all() == []
    customers = await session.execute(
        text(
            """
            WITH charged AS (
                SELECT o.customer_id, o.venue_id, o.total, o.refunded_amount,
                       (SELECT coalesce(sum(quantity), 0) FROM order_items i
                        WHERE i.order_id = o.id) AS q
                FROM orders o WHERE o.status IN ('paid', 'partially_refunded', 'refunded')
            ),
            expected AS (
                SELECT customer_id, venue_id, count(*) AS orders, sum(q) AS tickets,
                       sum(total) AS gross, sum(refunded_amount) AS refunds
                FROM charged GROUP BY 1, 2
                UNION ALL
                SELECT customer_id, '00000000-0000-0000-0000-000000000000'::uuid, count(*),
                       sum(q), sum(total), sum(refunded_amount)
                FROM charged GROUP BY 1
            ),
            actual AS (
                SELECT customer_id, venue_id, orders, tickets, gross, refunds
                FROM report_customer_sales WHERE orders <> 0 OR gross <> 0
            )
            (SELECT * FROM expected EXCEPT SELECT * FROM actual)
            UNION ALL (SELECT * FROM actual EXCEPT SELECT * FROM expected)
            """
        )
    )
    assert customers.all() == []
    await session.commit()
