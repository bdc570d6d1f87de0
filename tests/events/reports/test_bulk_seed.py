"""``tickettoken seed --demo --orders N`` (a real process): a year of sales whose rollups equal the
order rows, sold counters that match the orders, and a second run that changes nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.support import TEST_JWT_SECRET, create_scratch_database, drop_scratch_database

from tickettoken.migrations.runner import upgrade_to_head

ORDERS = 1200


def run_bulk_seed(url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "JWT_SECRET": TEST_JWT_SECRET,
        "ENVIRONMENT": "development",
    }
    return subprocess.run(
        [sys.executable, "-m", "tickettoken", "seed", "--demo", "--orders", str(ORDERS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture(scope="module")
async def bulk_database(pg_server_url: str) -> AsyncIterator[str]:
    url = await create_scratch_database(pg_server_url, prefix="tt_bulk")
    try:
        await asyncio.to_thread(upgrade_to_head, url)
        first = await asyncio.to_thread(run_bulk_seed, url)
        assert first.returncode == 0, first.stderr
        assert f"{ORDERS} orders" in first.stderr
        yield url
    finally:
        await drop_scratch_database(pg_server_url, url)


async def test_bulk_seed_rollups_equal_the_orders(bulk_database: str) -> None:
    second = await asyncio.to_thread(run_bulk_seed, bulk_database)
    assert second.returncode == 0 and "already there" in second.stderr
    engine = create_async_engine(bulk_database)
    try:
        async with engine.connect() as conn:
            counts = (
                await conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM orders),"
                        " (SELECT count(DISTINCT status) FROM orders),"
                        " (SELECT count(*) FROM tickets),"
                        " (SELECT sum(quantity) FROM order_items),"
                        " (SELECT count(*) FROM ticket_types WHERE sold > quantity),"
                        " (SELECT max(day) - min(day) FROM report_sales_daily)"
                    )
                )
            ).one()
            assert counts[0] == ORDERS and counts[1] == 4
            assert counts[2] == counts[3] and counts[4] == 0 and counts[5] > 300
            mismatch = await conn.execute(
                text(
                    """
                    WITH expected AS (
                        SELECT o.venue_id, o.event_id,
                               (coalesce(o.paid_at, o.created_at) AT TIME ZONE 'UTC')::date,
                               count(*), sum(i.quantity), sum(o.total), sum(o.refunded_amount)
                        FROM orders o JOIN order_items i ON i.order_id = o.id
                        WHERE o.status IN ('paid', 'partially_refunded', 'refunded')
                        GROUP BY 1, 2, 3
                    )
                    (SELECT * FROM expected EXCEPT SELECT venue_id, event_id, day, orders,
                         tickets, gross, refunds FROM report_sales_daily)
                    UNION ALL
                    (SELECT venue_id, event_id, day, orders, tickets, gross, refunds
                     FROM report_sales_daily EXCEPT SELECT * FROM expected)
                    """
                )
            )
            assert mismatch.all() == []
            sold = await conn.execute(
                text(
                    """
                    SELECT tt.id FROM ticket_types tt
                    WHERE tt.sold <> (
                        SELECT coalesce(sum(i.quantity), 0) FROM order_items i
                        JOIN orders o ON o.id = i.order_id
                        WHERE i.ticket_type_id = tt.id
                          AND o.status IN ('paid', 'partially_refunded', 'refunded'))
                    """
                )
            )
            assert sold.all() == []
    finally:
        await engine.dispose()
