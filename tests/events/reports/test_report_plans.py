"""Report statements keep index plans as generic plans, and repeated calls on one connection (the
asyncpg prepared-statement cache switches to a generic plan after the fifth execution) do not
slow down.

The generic plans are asked for directly (``plan_cache_mode = force_generic_plan``, sequential
scans disabled so the planner shows whether an index can serve the filters at all): the old
``CAST(:x AS ...) IS NULL OR ...`` statements fail this check (their generic plans read every
order), the statements built from the filters given pass it.
"""

from __future__ import annotations

import re
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, create_async_engine
from tests.events.reports.sales_rows import insert_customer, insert_order
from tests.events.reservations.sales_catalog import insert_catalog

from tickettoken.events.reports import queries

NOW = datetime.now(UTC)


def _literal(value: Any) -> str:
    if isinstance(value, list):
        return "ARRAY[" + ", ".join(f"'{v}'" for v in value) + "]::uuid[]"
    if isinstance(value, uuid.UUID):
        return f"'{value}'::uuid"
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'::timestamptz"
    if isinstance(value, date):
        return f"'{value.isoformat()}'::date"
    if isinstance(value, int):
        return str(value)
    raise TypeError(value)


async def generic_plan(conn: AsyncConnection, statement: str, params: dict[str, Any]) -> str:
    """EXPLAIN of the statement's generic plan (named binds turned into ``$n``)."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    positional = re.sub(r"(?<!:):([a-z_]\w*)", number, statement)
    name = f"report_{uuid.uuid4().hex[:8]}"
    await conn.execute(text(f"PREPARE {name} AS {positional}"))
    arguments = ", ".join(_literal(params[n]) for n in names)
    rows = await conn.execute(text(f"EXPLAIN EXECUTE {name}({arguments})"))
    plan = "\n".join(row[0] for row in rows)
    await conn.execute(text(f"DEALLOCATE {name}"))
    return plan


@pytest.fixture
async def plan_connection(database_url: str) -> AsyncIterator[AsyncConnection]:
    engine = create_async_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            yield conn
            await conn.rollback()
    finally:
        await engine.dispose()


async def _world(session: AsyncSession) -> tuple[uuid.UUID, uuid.UUID]:
    catalog = await insert_catalog(session, quantity=1000)
    customer = await insert_customer(session, catalog.venue_id)
    for day in range(12):
        await insert_order(
            session,
            customer_id=customer,
            event_id=catalog.event_id,
            ticket_type_id=catalog.ticket_type_id,
            quantity=2,
            unit_price=Decimal("20.00"),
            status="paid",
            paid_at=NOW - timedelta(days=day * 3, hours=5),
        )
    await session.commit()
    return catalog.venue_id, catalog.event_id


def _scopes(venue: uuid.UUID, event: uuid.UUID) -> list[tuple[bool, dict[str, Any]]]:
    """(scoped to a venue or event, filters): with and without windows cutting days."""
    year = NOW - timedelta(days=365)
    month = NOW - timedelta(days=30)
    return [
        (True, queries.filters([venue], None, None, None)),
        (True, queries.filters([venue], None, year, NOW)),
        (True, queries.filters([venue], event, month, None)),
        (True, queries.filters(None, event, None, NOW)),
        (False, queries.filters(None, None, month, NOW)),
    ]


async def test_generic_plans_use_the_indexes(
    committed_session: AsyncSession, plan_connection: AsyncConnection
) -> None:
    venue, event = await _world(committed_session)
    conn = plan_connection
    await conn.execute(text("SET plan_cache_mode = force_generic_plan"))
    await conn.execute(text("SET enable_seqscan = off"))
    for scoped, params in _scopes(venue, event):
        statements = [
            queries.sales_statement(params, "day"),
            queries.venue_comparison_statement(params),
        ]
        if params["event_id"] is None:
            statements += [
                queries.customer_insights_statement(params, 10, source)
                for source in ("rollup", "subtract", "orders")
            ]
        for statement, bound in statements:
            plan = await generic_plan(conn, statement, bound)
            assert "Seq Scan on orders" not in plan, plan
            if scoped:
                assert "Seq Scan on report_sales_daily" not in plan, plan
                assert "Seq Scan on report_customer_sales" not in plan, plan


async def test_the_old_optional_filter_pattern_fails_the_plan_check(
    plan_connection: AsyncConnection,
) -> None:
    """The check above can fail: the pattern it replaced reads every order as a generic plan."""
    conn = plan_connection
    await conn.execute(text("SET plan_cache_mode = force_generic_plan"))
    await conn.execute(text("SET enable_seqscan = off"))
    old = (
        "SELECT count(*) FROM orders o WHERE"
        " (CAST(:event_id AS uuid) IS NULL OR o.event_id = CAST(:event_id AS uuid))"
    )
    plan = await generic_plan(conn, old, {"event_id": uuid.uuid4()})
    assert "Seq Scan on orders" in plan or "Index Cond" not in plan, plan


async def test_each_report_keeps_its_speed_past_the_fifth_call_on_one_connection(
    committed_session: AsyncSession, database_url: str
) -> None:
    venue, event = await _world(committed_session)
    engine = create_async_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with AsyncSession(engine) as session:
            for _, params in _scopes(venue, event):
                calls = {
                    "sales": lambda p=params: queries.sales_by_period(session, p, "week"),
                    "venues": lambda p=params: queries.venue_comparison(session, p),
                    "customers": lambda p=params: queries.customer_insights(session, p, 10),
                }
                for name, call in calls.items():
                    timings, answers = [], []
                    for _ in range(10):
                        started = time.perf_counter()
                        answers.append(await call())
                        timings.append(time.perf_counter() - started)
                    assert all(answer == answers[0] for answer in answers), name
                    early, late = statistics.median(timings[:5]), statistics.median(timings[5:])
                    assert late <= 3 * early + 0.02, (name, timings)
            await session.rollback()
    finally:
        await engine.dispose()
