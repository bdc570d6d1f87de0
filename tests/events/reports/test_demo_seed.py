"""``tickettoken seed --demo`` (a real process) fills a fresh database so that every report and
the venue dashboards have data, and writes the large venue the sync test uses; a second run
changes nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.support import (
    TEST_JWT_SECRET,
    auth_header,
    create_scratch_database,
    drop_scratch_database,
    make_settings,
    running_app,
)

from tickettoken.demo.sync_venue import VENUE_ID
from tickettoken.events.app import create_app
from tickettoken.migrations.runner import upgrade_to_head


@pytest.fixture(scope="module")
async def demo_database(pg_server_url: str) -> AsyncIterator[str]:
    """A fresh database that ``seed --demo`` (a real process) has filled once."""
    url = await create_scratch_database(pg_server_url, prefix="tt_demo")
    try:
        await asyncio.to_thread(upgrade_to_head, url)
        first = await asyncio.to_thread(run_seed, url)
        assert first.returncode == 0, first.stderr
        assert "demo data written" in first.stderr
        yield url
    finally:
        await drop_scratch_database(pg_server_url, url)


def run_seed(url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "JWT_SECRET": TEST_JWT_SECRET,
        "ENVIRONMENT": "development",
    }
    return subprocess.run(
        [sys.executable, "-m", "tickettoken", "seed", "--demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_demo_seed_makes_every_report_non_empty(
    demo_database: str, token_for: Callable[..., str]
) -> None:
    second = await asyncio.to_thread(run_seed, demo_database)
    assert second.returncode == 0 and "already there" in second.stderr

    engine = create_async_engine(demo_database)
    async with engine.connect() as conn:
        venue_ids = [
            str(v)
            for v in (
                await conn.execute(
                    text("SELECT id FROM venues WHERE metadata->>'demo' = 'true' ORDER BY name")
                )
            ).scalars()
        ]
        # the large venue (demo/sync_venue.py): a thousand customers of every kind, 50 events
        large = (
            await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM customers WHERE venue_id = :v),"
                    " (SELECT count(phone) FROM customers WHERE venue_id = :v),"
                    " (SELECT count(*) FROM customers WHERE venue_id = :v"
                    "  AND marketing_consent),"
                    " (SELECT count(*) FROM events WHERE venue_id = :v),"
                    " (SELECT count(*) FROM ticket_types t JOIN events e ON e.id = t.event_id"
                    "  WHERE e.venue_id = :v),"
                    " (SELECT count(*) FROM orders WHERE venue_id = :v AND status = 'paid')"
                ),
                {"v": VENUE_ID},
            )
        ).one()
        customers, phones, consenting, events, ticket_types, paid = large
        assert customers >= 1000 and events >= 50 and ticket_types > events and paid >= 80
        assert 0.4 < phones / customers < 0.8 and 0.3 < consenting / customers < 0.6, large
        oversold = await conn.execute(
            text("SELECT count(*) FROM ticket_types WHERE sold + reserved > quantity")
        )
        assert oversold.scalar_one() == 0
        # the seed re-dates every sale (paid_at, created_at): the rollups followed each move
        moved = await conn.execute(
            text(
                """
                WITH expected AS (
                    SELECT o.venue_id, o.event_id,
                           (coalesce(o.paid_at, o.created_at) AT TIME ZONE 'UTC')::date AS day,
                           count(*) AS orders, sum(o.total) AS gross,
                           sum(o.refunded_amount) AS refunds
                    FROM orders o WHERE o.status IN ('paid', 'partially_refunded', 'refunded')
                    GROUP BY 1, 2, 3
                ),
                actual AS (
                    SELECT venue_id, event_id, day, orders::bigint, gross, refunds
                    FROM report_sales_daily WHERE orders <> 0
                )
                (SELECT * FROM expected EXCEPT SELECT * FROM actual)
                UNION ALL (SELECT * FROM actual EXCEPT SELECT * FROM expected)
                """
            )
        )
        assert moved.all() == []
    await engine.dispose()
    assert len(venue_ids) == 3

    admin = auth_header(token_for("admin"))
    settings = make_settings(database_url=demo_database)
    async with running_app(create_app(settings)) as client:
        sales = (
            await client.get("/api/v1/reports/sales", params={"group_by": "week"}, headers=admin)
        ).json()["data"]
        assert sales["totals"]["orders"] > 100 and len(sales["periods"]) >= 8
        assert sales["totals"]["refunds"] != "0.00"
        venues = (await client.get("/api/v1/reports/venue-comparison", headers=admin)).json()
        assert all(v["orders"] > 0 for v in venues["data"]["venues"])
        insights = (await client.get("/api/v1/reports/customer-insights", headers=admin)).json()
        assert insights["data"]["repeat_customers"] > 0
        assert insights["data"]["top_customers"]
        for venue_id in venue_ids:
            dashboard = await client.get(f"/api/v1/venues/{venue_id}/dashboard", headers=admin)
            assert dashboard.status_code == 200, dashboard.text
        customer = auth_header(token_for("customer", sub="demo-customer-1"))
        mine = (await client.get("/api/v1/orders", headers=customer)).json()
        assert mine["pagination"]["total"] > 0
        customer_id = mine["data"][0]["customer_id"]
        profile = await client.get(f"/api/v1/customers/{customer_id}/profile", headers=customer)
        assert profile.json()["data"]["statistics"]["orders"] > 0
        listing = await client.get("/api/v1/users/demo-customer-1/notifications", headers=customer)
        assert listing.json()["data"]["unread_count"] >= 1


async def scalar(url: str, sql: str) -> Any:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql))).scalar_one()
    finally:
        await engine.dispose()


async def test_demo_season_obeys_the_platforms_own_rules(
    demo_database: str, token_for: Callable[..., str]
) -> None:
    """Issue 7: no money left on a cancelled event, timestamps in the order things happen,
    sales thick enough for demand pricing to apply."""
    url = demo_database
    # a cancelled event keeps no paid order, no valid ticket, and each paid order was refunded
    assert (
        await scalar(
            url,
            "SELECT count(*) FROM orders o JOIN events e ON e.id = o.event_id"
            " WHERE e.status = 'cancelled'"
            " AND o.status IN ('pending', 'paid', 'partially_refunded')",
        )
        == 0
    )
    assert (
        await scalar(
            url,
            "SELECT count(*) FROM tickets t JOIN events e ON e.id = t.event_id"
            " WHERE e.status = 'cancelled' AND t.status IN ('pending', 'issued')",
        )
        == 0
    )
    assert (
        await scalar(
            url,
            "SELECT count(*) FROM orders o JOIN events e ON e.id = o.event_id"
            " WHERE e.status = 'cancelled' AND o.status = 'refunded' AND EXISTS ("
            "  SELECT 1 FROM jobs_money j WHERE j.type = 'refund-process'"
            "  AND j.payload->>'order_id' = o.id::text)",
        )
        > 0
    )
    # things happen in order: created, published, sold (before the start, before a cancellation)
    assert await scalar(url, "SELECT count(*) FROM events WHERE published_at < created_at") == 0
    assert (
        await scalar(
            url,
            "SELECT count(*) FROM orders o JOIN events e ON e.id = o.event_id"
            " WHERE o.created_at < e.published_at OR o.created_at < e.created_at"
            " OR o.created_at > e.start_date - interval '30 minutes'"
            " OR (e.cancelled_at IS NOT NULL AND o.created_at > e.cancelled_at)",
        )
        == 0
    )
    assert (
        await scalar(
            url,
            "SELECT count(*) FROM orders o JOIN reservations r ON r.id = o.reservation_id"
            " WHERE r.created_at > o.created_at OR o.paid_at < o.created_at",
        )
        == 0
    )
    assert (
        await scalar(
            url, "SELECT count(*) FROM events WHERE status = 'completed' AND start_date > now()"
        )
        == 0
    )
    assert await scalar(url, "SELECT count(DISTINCT created_at::date) FROM events") > 1, (
        "every event created on the same day"
    )
    # every order came through a reservation; counters match the tickets (refunded tickets do
    # not return to sale)
    # (the large venue's orders are bulk-written, without the reservations: demo/sync_venue.py)
    assert (
        await scalar(
            url,
            "SELECT count(*) FROM orders o JOIN venues v ON v.id = o.venue_id"
            " WHERE o.reservation_id IS NULL AND v.metadata->>'demo' = 'true'",
        )
        == 0
    )
    assert (
        await scalar(
            url,
            "SELECT count(*) FROM ticket_types tt WHERE tt.sold <> (SELECT count(*) FROM tickets t"
            " WHERE t.ticket_type_id = tt.id AND t.status IN ('issued', 'refunded'))"
            " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.id = tt.event_id"
            "  AND e.status = 'cancelled')",
        )
        == 0
    )

    admin = auth_header(token_for("admin"))
    settings = make_settings(database_url=url)
    async with running_app(create_app(settings)) as client:
        listing = await client.get(
            "/api/v1/events", params={"status": "published", "limit": 100}, headers=admin
        )
        demand_applies = False
        for event in listing.json()["data"]:
            prices = await client.get(f"/api/v1/events/{event['id']}/pricing", headers=admin)
            for quote in prices.json()["data"]["ticket_types"]:
                rules = {rule["rule_type"] for rule in quote["applied_rules"]}
                demand_applies = demand_applies or "demand_based" in rules
        assert demand_applies, "no demand rule applies to any ticket on sale"
