"""The idempotency guard when the database goes away around the work (issue 7, item 22).

A committed answer is always delivered and replayed on a retry with the same key; a claim whose
work did not commit never blocks that retry. The database is really stopped (a throwaway embedded
server) at the moment that matters: right after the work committed, or in the middle of the work.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from tests.faults.fault_servers import ThrowawayPostgres, committed_catalog, service_process
from tests.support import auth_header, make_settings

from tickettoken.kit import idempotency
from tickettoken.kit.auth import mint_token
from tickettoken.kit.db import Database


@pytest.fixture
async def database(throwaway_pg: ThrowawayPostgres) -> AsyncIterator[Database]:
    db = Database(throwaway_pg.url)
    yield db
    await db.dispose()


async def _records(throwaway_pg: ThrowawayPostgres, scope: str) -> list[tuple[str, int | None]]:
    conn = await throwaway_pg.connect()
    try:
        rows = await conn.fetch(
            "SELECT status, response_status FROM idempotency_records WHERE scope = $1", scope
        )
    finally:
        await conn.close()
    return [(row["status"], row["response_status"]) for row in rows]


async def test_a_committed_answer_is_delivered_when_the_database_stops_right_after_the_commit(
    database: Database, throwaway_pg: ThrowawayPostgres
) -> None:
    scope = f"faults:{uuid.uuid4().hex}"
    try:
        async with idempotency.guard(database, scope=scope, key="k", request_hash="h") as call:
            async with call.transaction() as session:
                await session.execute(text("SELECT 1"))
                await call.complete(session, 201, {"id": "committed"})
            # the work committed: the database goes away before the guard is left
            await asyncio.to_thread(throwaway_pg.stop)
        delivered = True
    finally:
        await asyncio.to_thread(throwaway_pg.start)
    assert delivered
    async with idempotency.guard(database, scope=scope, key="k", request_hash="h") as retry:
        assert retry.replay == idempotency.StoredResponse(201, {"id": "committed"})


async def test_a_claim_whose_work_died_with_the_database_does_not_block_the_retry(
    database: Database, throwaway_pg: ThrowawayPostgres
) -> None:
    scope = f"faults:{uuid.uuid4().hex}"
    try:
        guarded = idempotency.guard(database, scope=scope, key="k", request_hash="h")
        with pytest.raises(Exception) as failed:  # any error but a conflict
            async with guarded as call, call.transaction() as session:
                await session.execute(text("SELECT 1"))
                await asyncio.to_thread(throwaway_pg.stop)  # mid-work: nothing commits
                await call.complete(session, 201, {"id": "never"})
        assert "Conflict" not in type(failed.value).__name__
    finally:
        await asyncio.to_thread(throwaway_pg.start)
    async with idempotency.guard(database, scope=scope, key="k", request_hash="h") as retry:
        assert retry.replay is None  # free at once, not after a stale-claim timeout
        async with retry.transaction() as session:
            await retry.complete(session, 201, {"id": "second try"})
    assert await _records(throwaway_pg, scope) == [("completed", 201)]


async def test_every_reservation_key_ends_with_one_hold_after_a_database_restart(
    throwaway_pg: ThrowawayPostgres,
) -> None:
    """Reservations with keys under load, the database stopped and restarted; then every key is
    retried until it answers 201: no retry is refused as "in progress", each key holds once."""
    catalog = await committed_catalog(throwaway_pg.url)
    url = f"/api/v1/events/{catalog.event_id}/reservations"
    body = {"ticket_type_id": str(catalog.ticket_type_id), "quantity": 1}
    settings = make_settings()
    answers: dict[str, list[int]] = {}
    with service_process("event", {"DATABASE_URL": throwaway_pg.url}) as events:
        async with httpx.AsyncClient(base_url=events.url, timeout=20.0) as http:

            async def reserve(key: str) -> int:
                # one customer per key (a customer's tickets per event are limited)
                token = mint_token(role="customer", sub=f"buyer-{key}", settings=settings)
                headers = {**auth_header(token), "Idempotency-Key": key}
                response = await http.post(url, json=body, headers=headers)
                answers.setdefault(key, []).append(response.status_code)
                return response.status_code

            async def lane(until: float) -> None:
                while time.monotonic() < until:
                    await reserve(uuid.uuid4().hex)

            load = asyncio.gather(*(lane(time.monotonic() + 2.0) for _ in range(8)))
            await asyncio.sleep(0.7)
            try:
                await asyncio.to_thread(throwaway_pg.stop)
                await load
            finally:
                await asyncio.to_thread(throwaway_pg.start)
            failed = [key for key, statuses in answers.items() if statuses[-1] != 201]
            assert failed, "the stop did not fail any request"
            deadline = time.monotonic() + 10
            for key in failed:  # the database may still be warming up: retry 503s
                for _ in range(50):
                    if await reserve(key) != 503 or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.2)
    refused = {k: s for k, s in answers.items() if s[-1] != 201}
    assert not refused, f"retries not answered 201: {list(refused.values())[:5]}"
    conn = await throwaway_pg.connect()
    try:
        holds = await conn.fetchval(
            "SELECT count(*) FROM reservations WHERE ticket_type_id = $1", catalog.ticket_type_id
        )
    finally:
        await conn.close()
    assert holds == len(answers)
