"""``tickettoken seed --demo`` (a real process) fills a fresh database so that every report and
the venue dashboards have data; a second run changes nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable

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

from tickettoken.events.app import create_app
from tickettoken.migrations.runner import upgrade_to_head


@pytest.fixture
async def demo_database(pg_server_url: str) -> AsyncIterator[str]:
    url = await create_scratch_database(pg_server_url, prefix="tt_demo")
    try:
        await asyncio.to_thread(upgrade_to_head, url)
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
    first = await asyncio.to_thread(run_seed, demo_database)
    assert first.returncode == 0, first.stderr
    assert "demo data written" in first.stderr
    second = await asyncio.to_thread(run_seed, demo_database)
    assert second.returncode == 0 and "already there" in second.stderr

    engine = create_async_engine(demo_database)
    async with engine.connect() as conn:
        venue_ids = [
            str(v)
            for v in (await conn.execute(text("SELECT id FROM venues ORDER BY name"))).scalars()
        ]
        oversold = await conn.execute(
            text("SELECT count(*) FROM ticket_types WHERE sold + reserved > quantity")
        )
        assert oversold.scalar_one() == 0
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
        assert listing.json()["data"]["unread_count"] == 1
