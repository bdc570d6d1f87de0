"""Acceptance: a flash sale against two running instances of the event service (real processes
on one database). 500 concurrent buyers ask for 1-4 tickets of a type with 100: exactly 100 are
held, every refused request is a 409, nothing answers 5xx, and when the holds expire the whole
quantity is back on sale and sells out again."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.events.reservations.sales_catalog import Catalog, create_catalog, ticket_counts
from tests.events.reservations.service_processes import event_service_processes, free_ports
from tests.support import TEST_JWT_SECRET, auth_header

pytestmark = pytest.mark.slow

QUANTITY = 100
BUYERS = 500
HOLD_SECONDS = 12


@pytest.fixture(scope="module")
def two_instances(database_url: str) -> Iterator[list[str]]:
    env = {
        "DATABASE_URL": database_url,
        "JWT_SECRET": TEST_JWT_SECRET,
        "RESERVATION_HOLD": f"{HOLD_SECONDS}s",
        "RESERVATION_SWEEP_INTERVAL": "1s",
        "DB_POOL_MIN": "10",
        "DB_POOL_MAX": "10",
    }
    with event_service_processes(free_ports(2, 4350, 4369), env) as urls:
        yield urls


async def flash_sale(
    urls: list[str], catalog: Catalog, token_for: Callable[..., str], seed: int
) -> tuple[Counter[int], int]:
    """Fire every request at once; (status counts, tickets granted). aiohttp as the client:
    httpx alone needs about 6 s here for 500 concurrent requests even to ``/health``."""
    rng = random.Random(seed)
    requests = []
    for index in range(BUYERS):
        sub = f"fan-{seed}-{index}-{uuid.uuid4().hex[:6]}"
        body: dict[str, object] = {
            "ticket_type_id": str(catalog.ticket_type_id),
            "quantity": rng.randint(1, 4),
        }
        if index % 4 < 2:  # half with contact details, half with the token alone
            body["customer"] = {"email": f"{sub}@example.com", "first_name": "Fan"}
        url = f"{urls[index % len(urls)]}/api/v1/events/{catalog.event_id}/reservations"
        requests.append((url, body, auth_header(token_for("customer", sub=sub))))

    refusals: Counter[tuple[object, str]] = Counter()
    connector = aiohttp.TCPConnector(limit=BUYERS)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:

        async def buy(
            url: str, body: dict[str, object], headers: dict[str, str]
        ) -> tuple[int, int]:
            async with client.post(url, json=body, headers=headers) as response:
                answer = await response.json()
                if response.status == 201:
                    assert answer["data"]["quantity"] == body["quantity"]
                    return 201, int(answer["data"]["quantity"])
                assert answer["success"] is False and answer["code"] == "CONFLICT", answer
                refusals[(body["quantity"], answer["error"])] += 1
                return response.status, 0

        results = await asyncio.gather(*(buy(*request) for request in requests))
    if sum(granted for _, granted in results) != QUANTITY:
        print("refusals by (quantity, message):", dict(refusals))
    return Counter(status for status, _ in results), sum(granted for _, granted in results)


async def held_in_reservations(database_url: str, catalog: Catalog) -> int:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            held = await conn.execute(
                text(
                    "SELECT coalesce(sum(quantity), 0) FROM reservations"
                    " WHERE ticket_type_id = :id AND status = 'held'"
                ),
                {"id": catalog.ticket_type_id},
            )
            return int(held.scalar_one())
    finally:
        await engine.dispose()


@pytest.mark.alone
async def test_flash_sale_never_oversells_and_expired_holds_return_to_sale(
    two_instances: list[str], database_url: str, token_for: Callable[..., str]
) -> None:
    catalog = await create_catalog(database_url, quantity=QUANTITY, max_per_order=4)

    started = time.monotonic()
    statuses, granted = await flash_sale(two_instances, catalog, token_for, seed=1)
    assert time.monotonic() - started < HOLD_SECONDS - 2, "the burst outlived the holds"
    assert set(statuses) <= {201, 409}, statuses
    assert granted == QUANTITY
    assert await ticket_counts(database_url, catalog.ticket_type_id) == (QUANTITY, 0, QUANTITY)
    assert await held_in_reservations(database_url, catalog) == QUANTITY

    # No request: the sweepers of both instances release the expired holds.
    deadline = time.monotonic() + HOLD_SECONDS + 15
    while await ticket_counts(database_url, catalog.ticket_type_id) != (QUANTITY, 0, 0):
        assert time.monotonic() < deadline, "expired holds were not released"
        await asyncio.sleep(0.5)
    assert await held_in_reservations(database_url, catalog) == 0

    started = time.monotonic()
    statuses, granted = await flash_sale(two_instances, catalog, token_for, seed=2)
    took = time.monotonic() - started
    counts = await ticket_counts(database_url, catalog.ticket_type_id)
    held = await held_in_reservations(database_url, catalog)
    outcome = (statuses, granted, counts, held, took)
    assert set(statuses) <= {201, 409}, outcome
    assert granted == QUANTITY, outcome
    assert counts == (QUANTITY, 0, QUANTITY), outcome
