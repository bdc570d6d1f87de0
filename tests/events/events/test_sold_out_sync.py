"""The sold-out re-sync under concurrency: every instance that took last seats re-syncs the event
at the same moment. Exactly one makes the change; the others find it made and answer with the
status, never with a conflict (the holds that asked for the re-sync have already committed)."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from tests.events.reservations.sales_catalog import Catalog, create_catalog

from tickettoken.events.events.service import sync_sold_out_status
from tickettoken.kit.db import Database
from tickettoken.kit.kv import MemoryStore

CALLERS = 100


async def _sync_all_at_once(database: Database, catalog: Catalog) -> list[str]:
    kv = MemoryStore()
    start = asyncio.Event()

    async def sync() -> str:
        await start.wait()
        async with database.transaction() as session:
            return await sync_sold_out_status(session, kv, catalog.event_id)

    tasks = [asyncio.create_task(sync()) for _ in range(CALLERS)]
    await asyncio.sleep(0.05)
    start.set()
    return await asyncio.gather(*tasks)


async def _set_reserved(database: Database, catalog: Catalog, reserved: int) -> None:
    async with database.transaction() as session:
        await session.execute(
            text("UPDATE ticket_types SET reserved = :reserved WHERE id = :id"),
            {"reserved": reserved, "id": catalog.ticket_type_id},
        )


async def _status(database: Database, catalog: Catalog) -> str:
    async with database.transaction() as session:
        found = await session.execute(
            text("SELECT status FROM events WHERE id = :id"), {"id": catalog.event_id}
        )
        return str(found.scalar_one())


async def test_concurrent_resyncs_agree_and_none_conflicts(database_url: str) -> None:
    catalog = await create_catalog(database_url, quantity=5)
    database = Database(database_url, pool_min=1, pool_max=20)
    try:
        await _set_reserved(database, catalog, 5)
        assert await _sync_all_at_once(database, catalog) == ["sold_out"] * CALLERS
        assert await _status(database, catalog) == "sold_out"

        await _set_reserved(database, catalog, 4)
        assert await _sync_all_at_once(database, catalog) == ["published"] * CALLERS
        assert await _status(database, catalog) == "published"
    finally:
        await database.dispose()
