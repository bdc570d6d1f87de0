"""The ``box-office-sale`` job on its own (real PostgreSQL): a sale takes its seats once per key,
a sale larger than what is left takes nothing and is recorded as a conflict, and box-office
sales racing online holds never oversell."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from tests.events.reservations.sales_catalog import Catalog, create_catalog, ticket_counts

from tickettoken.events.box_office.tasks import process_box_office_return, process_box_office_sale
from tickettoken.events.inventory.service import HoldOutcome, NewHold, hold
from tickettoken.kit.db import Database
from tickettoken.kit.jobs import JobContext, PermanentJobError
from tickettoken.kit.provider_limits import create_rate_limiter
from tickettoken.kit.settings import Settings


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url, pool_min=1, pool_max=25)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def run_sale(database: Database, settings: Settings) -> AsyncIterator[Any]:
    limiter = create_rate_limiter(None)
    async with httpx.AsyncClient() as http:

        async def run(catalog: Catalog, quantity: int, key: str | None = None) -> dict[str, Any]:
            ctx = JobContext(
                job_id=str(uuid.uuid4()),
                queue="communication",
                type="box-office-sale",
                payload={
                    "venue_id": str(catalog.venue_id),
                    "ticket_type_id": str(catalog.ticket_type_id),
                    "quantity": quantity,
                    "sale_key": key or f"test:{uuid.uuid4().hex}",
                    "catalog_object_id": "VAR1",
                },
                attempt=1,
                max_attempts=3,
                idempotency_key="test",
                venue_id=str(catalog.venue_id),
                database=database,
                http=http,
                settings=settings,
                limiter=limiter,
            )
            return await process_box_office_sale(ctx)

        yield run
    await limiter.aclose()


async def _rows(database: Database, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with database.transaction() as session:
        return [dict(r._mapping) for r in await session.execute(text(sql), params)]


async def test_a_sale_takes_its_seats_once_per_key(run_sale: Any, database_url: str) -> None:
    catalog = await create_catalog(database_url, quantity=10)
    first = await run_sale(catalog, 3, key="k-once")
    assert first["status"] == "applied"
    assert await ticket_counts(database_url, catalog.ticket_type_id) == (10, 3, 0)
    again = await run_sale(catalog, 3, key="k-once")
    assert again["status"] == "duplicate"
    assert again["box_office_sale_id"] == first["box_office_sale_id"]
    assert await ticket_counts(database_url, catalog.ticket_type_id) == (10, 3, 0)


async def test_a_sale_larger_than_what_is_left_is_a_recorded_conflict(
    run_sale: Any, database: Database, database_url: str
) -> None:
    catalog = await create_catalog(database_url, quantity=5)
    assert (await run_sale(catalog, 4))["status"] == "applied"
    answer = await run_sale(catalog, 2, key="k-conflict")
    assert answer["status"] == "conflict"
    assert await ticket_counts(database_url, catalog.ticket_type_id) == (5, 4, 0)
    (row,) = await _rows(
        database, "SELECT * FROM box_office_sales WHERE idempotency_key = 'k-conflict'"
    )
    assert (row["status"], row["quantity"]) == ("conflict", 2)
    assert row["details"]["counters"] == {"quantity": 5, "sold": 4, "reserved": 0, "available": 1}
    audits = await _rows(
        database,
        "SELECT action, actor_role, after FROM audit_log WHERE entity_type = 'ticket_type'"
        " AND entity_id = :tt ORDER BY created_at",
        tt=str(catalog.ticket_type_id),
    )
    assert [a["action"] for a in audits] == ["box_office_sale", "box_office_conflict"]
    assert audits[1]["actor_role"] == "system"
    assert audits[1]["after"]["sale_key"] == "k-conflict"
    assert audits[1]["after"]["counters"]["available"] == 1
    # A conflict is settled by the venue, not retried: the same key again changes nothing.
    assert (await run_sale(catalog, 2, key="k-conflict"))["status"] == "duplicate"


async def test_a_ticket_type_of_another_venue_fails_for_good(
    run_sale: Any, database_url: str
) -> None:
    mine = await create_catalog(database_url, quantity=5)
    other = await create_catalog(database_url, quantity=5)
    stolen = Catalog(mine.venue_id, mine.event_id, other.ticket_type_id)
    with pytest.raises(PermanentJobError):
        await run_sale(stolen, 1)
    assert await ticket_counts(database_url, other.ticket_type_id) == (5, 0, 0)


async def test_box_office_sales_and_online_holds_never_oversell(
    run_sale: Any, database: Database, database_url: str
) -> None:
    """100 online holds of one seat and 20 box-office sales of two seats, all at once, on 50
    seats: whatever order they land in, sold + reserved never passes 50, each refusal and each
    conflict took nothing, and the box-office rows account for every seat sold."""
    catalog = await create_catalog(database_url, quantity=50)
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    pool = await asyncpg.create_pool(dsn, min_size=20, max_size=20)
    try:
        customers = [
            await pool.fetchval(
                "INSERT INTO customers (venue_id, user_id) VALUES ($1, $2) RETURNING id",
                catalog.venue_id,
                f"bo-{uuid.uuid4().hex}",
            )
            for _ in range(100)
        ]

        async def online(customer: uuid.UUID) -> HoldOutcome:
            now = datetime.now(UTC)
            held = NewHold(
                id=uuid.uuid4(),
                event_id=catalog.event_id,
                ticket_type_id=catalog.ticket_type_id,
                customer_id=customer,
                quantity=1,
                unit_price=Decimal("25.00"),
                currency="USD",
                created_at=now,
                expires_at=now + timedelta(minutes=15),
            )
            async with pool.acquire() as conn:
                return await hold(conn, [held], 10)

        results = await asyncio.gather(
            *(online(c) for c in customers), *(run_sale(catalog, 2) for _ in range(20))
        )
    finally:
        await pool.close()
    holds = [r for r in results if isinstance(r, HoldOutcome)]
    sales = [r for r in results if isinstance(r, dict)]
    held = sum(1 for r in holds if r is HoldOutcome.HELD)
    taken = sum(2 for s in sales if s["status"] == "applied")
    conflicts = sum(1 for s in sales if s["status"] == "conflict")
    assert {r for r in holds} <= {HoldOutcome.HELD, HoldOutcome.SOLD_OUT}
    quantity, sold, reserved = await ticket_counts(database_url, catalog.ticket_type_id)
    assert sold + reserved <= quantity == 50
    assert (sold, reserved) == (taken, held)
    assert held + taken == 50  # 120 asks for 140 seats: every seat went to one of them
    recorded = await _rows(
        database,
        "SELECT status, count(*) AS n FROM box_office_sales WHERE ticket_type_id = :tt"
        " GROUP BY status",
        tt=catalog.ticket_type_id,
    )
    by_status = {r["status"]: r["n"] for r in recorded}
    assert by_status.get("applied", 0) * 2 == sold
    assert by_status.get("conflict", 0) == conflicts
    assert by_status.get("applied", 0) + conflicts == 20


async def test_concurrent_returns_give_back_only_what_the_box_office_took(
    run_sale: Any, database: Database, database_url: str, settings: Settings
) -> None:
    """Five seats sold at the box office, then twelve one-seat returns at once (each its own
    key, one of them twice): five seats go back, once each; the rest are recorded as returns
    with nothing to give back, and sold never falls below what online sales hold."""
    catalog = await create_catalog(database_url, quantity=10)
    assert (await run_sale(catalog, 5))["status"] == "applied"
    await _rows(
        database,
        "UPDATE ticket_types SET sold = sold + 3 WHERE id = :tt RETURNING 1",
        tt=catalog.ticket_type_id,
    )  # three sold online
    limiter = create_rate_limiter(None)
    async with httpx.AsyncClient() as http:

        async def give_back(key: str) -> dict[str, Any]:
            ctx = JobContext(
                job_id=str(uuid.uuid4()),
                queue="communication",
                type="box-office-return",
                payload={
                    "venue_id": str(catalog.venue_id),
                    "ticket_type_id": str(catalog.ticket_type_id),
                    "quantity": 1,
                    "return_key": key,
                },
                attempt=1,
                max_attempts=3,
                idempotency_key="test",
                venue_id=str(catalog.venue_id),
                database=database,
                http=http,
                settings=settings,
                limiter=limiter,
            )
            return await process_box_office_return(ctx)

        keys = [f"ret:{uuid.uuid4().hex}" for _ in range(11)]
        results = await asyncio.gather(*(give_back(k) for k in [*keys, keys[0]]))
    await limiter.aclose()
    statuses = sorted(r["status"] for r in results)
    assert statuses.count("returned") == 5 and statuses.count("duplicate") == 1
    assert statuses.count("return_unmatched") == 6
    assert await ticket_counts(database_url, catalog.ticket_type_id) == (10, 3, 0)
    audits = await _rows(
        database,
        "SELECT action FROM audit_log WHERE entity_type = 'ticket_type' AND entity_id = :tt"
        " AND action LIKE 'box_office_return%'",
        tt=str(catalog.ticket_type_id),
    )
    assert (
        sorted(a["action"] for a in audits)
        == ["box_office_return"] * 5 + ["box_office_return_unmatched"] * 6
    )
