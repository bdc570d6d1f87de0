"""A sync is expanded into work items page by page while its lanes already push the first ones;
an expansion cut after a committed page (a crash) goes on where that page ended: every record in
exactly one item, every item but the last full, nothing twice at the provider."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from tests.integrations.sync.conftest import RunWorker, admin, connect, seed_venue
from tests.integrations.sync.test_customers import remote_customers, seed_customers

from tickettoken.integrations.providers import CallRecord
from tickettoken.integrations.sync import engine, service
from tickettoken.integrations.sync import repository as repo
from tickettoken.kit.auth import Principal, Role
from tickettoken.kit.db import Database
from tickettoken.kit.settings import Settings


async def start(db: Database, venue: uuid.UUID, provider: str, per_item: int) -> uuid.UUID:
    principal = Principal(sub="admin", role=Role.VENUE_ADMIN, venue_ids=frozenset({str(venue)}))
    async with db.transaction() as session:
        started = await service.start(
            session,
            principal,
            provider,
            venue,
            "customers",
            "to_provider",
            records_per_item=per_item,
        )
    return started.sync_id


async def items(db: Database, sync_id: uuid.UUID) -> list[dict[str, Any]]:
    async with db.transaction() as session:
        rows = await session.execute(
            text(
                "SELECT idempotency_key, status, attempts, payload, queued_at, started_at"
                " FROM sync_queue WHERE sync_id = :s"
            ),
            {"s": sync_id},
        )
        found = [dict(r) for r in rows.mappings()]
    return sorted(found, key=lambda i: int(i["idempotency_key"].rsplit(":", 1)[1]))


class Cut(Exception):
    """The crash: raised after the expansion's first page committed."""


async def test_an_expansion_cut_after_a_page_goes_on_where_it_ended(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    integration_settings: Settings,
    calls: list[CallRecord],
    run_worker: RunWorker,
) -> None:
    venue = (await seed_venue(db, events=0))["venue"]
    ids = await seed_customers(db, venue, [True] * 25)
    await connect(client, admin(token_for, venue), venue, "square")
    sync_id = await start(db, venue, "square", per_item=4)
    async with db.transaction() as session:
        log = await repo.get_log(session, sync_id)
    assert log is not None

    def crash() -> None:
        raise Cut

    with pytest.raises(Cut):
        await engine._expand(db, log, dict(log["details"] or {}), on_page=crash)
    first = await items(db, sync_id)
    assert [len(i["payload"]["records"]) for i in first] == [4]  # the first page: one item
    async with db.transaction() as session:
        log = await repo.get_log(session, sync_id)
    assert log is not None and log["status"] == "started"
    assert not log["details"].get("expanded")
    assert log["details"]["expansion"]["after"] == first[0]["payload"]["records"][-1]["local_id"]

    log = await run_worker(str(sync_id), within=60)
    assert (log["status"], log["success_count"], log["error_count"], log["entity_count"]) == (
        "completed",
        25,
        0,
        25,
    )
    done = await items(db, sync_id)
    assert [len(i["payload"]["records"]) for i in done] == [4, 4, 4, 4, 4, 4, 1]
    assert {(i["status"], i["attempts"]) for i in done} == {("completed", 1)}
    pushed = [r["local_id"] for i in done for r in i["payload"]["records"]]
    assert pushed == sorted(str(c) for c in ids)  # each record once, in id order
    assert len([c for c in calls if c.endpoint == "customers.bulk_create"]) == 7
    assert len(await remote_customers(integration_settings, db, venue, "square")) == 25


async def test_the_first_items_are_pushed_while_the_rest_is_expanded(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    integration_settings: Settings,
    calls: list[CallRecord],
    run_worker: RunWorker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The expansion's second page waits until a lane has claimed an item of the first: with
    every item expanded before the first claim (the engine before paging) it never would."""
    venue = (await seed_venue(db, events=0))["venue"]
    await seed_customers(db, venue, [True] * 30)
    await connect(client, admin(token_for, venue), venue, "square")
    sync_id = await start(db, venue, "square", per_item=5)
    read = engine.READERS["customers"]
    pages: list[tuple[int, bool]] = []  # (records read, an item already claimed)

    async def claimed() -> bool:
        async with db.transaction() as session:
            found = await session.scalar(
                text(
                    "SELECT count(*) FROM sync_queue WHERE sync_id = :s"
                    " AND status IN ('processing', 'completed')"
                ),
                {"s": sync_id},
            )
        return bool(found)

    async def slow_second_page(
        session: Any, venue_id: uuid.UUID, since: datetime | None, after: str | None, limit: int
    ) -> list[dict[str, Any]]:
        if pages:
            for _ in range(500):  # 10 s at most
                if await claimed():
                    break
                await asyncio.sleep(0.02)
        records = await read(session, venue_id, since, after, limit)
        pages.append((len(records), await claimed()))
        return records

    monkeypatch.setitem(engine.READERS, "customers", slow_second_page)
    log = await run_worker(str(sync_id), within=60)
    assert (log["status"], log["success_count"]) == ("completed", 30)
    assert pages[0] == (6, False)  # one item and the record that shows there is more
    assert len(pages) >= 2 and all(seen for _, seen in pages[1:]), pages
    done = await items(db, sync_id)
    assert [len(i["payload"]["records"]) for i in done] == [5] * 6
    assert min(i["started_at"] for i in done) < max(i["queued_at"] for i in done)
