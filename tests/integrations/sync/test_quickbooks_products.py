"""Products to QuickBooks: each ticket type is a service Item, written in batches of at most 30
operations; a second run writes nothing; a price edit updates the same Item (its SyncToken)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import text
from tests.integrations.sync.conftest import BASE, RunWorker, admin, connect, seed_venue, writes

from tickettoken.integrations.connections.clients import ProviderClients
from tickettoken.integrations.connections.credentials import access_credentials
from tickettoken.integrations.providers import CallRecord, QuickBooksProvider
from tickettoken.kit.db import Database
from tickettoken.kit.settings import Settings


async def quickbooks_items(settings: Settings, db: Database, venue: uuid.UUID) -> list[Any]:
    clients = ProviderClients(settings)
    try:
        quickbooks = await clients.get("quickbooks")
        assert isinstance(quickbooks, QuickBooksProvider)
        credentials = await access_credentials(db, venue, "quickbooks", clients=clients)
        found = await quickbooks.query(credentials, "select * from Item", max_results=1000)
        return list(found.get("Item") or [])
    finally:
        await clients.aclose()


async def test_ticket_types_become_items_in_batches_of_30(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    integration_settings: Settings,
    calls: list[CallRecord],
    run_worker: RunWorker,
) -> None:
    made = await seed_venue(db, events=8, ticket_types=4)  # 32 items: two batches
    venue = made["venue"]
    headers = admin(token_for, venue)
    await connect(client, headers, venue, "quickbooks")

    async def sync() -> dict[str, Any]:
        answer = await client.post(
            f"{BASE}/sync/quickbooks/sync",
            json={"venueId": str(venue), "syncType": "products"},
            headers=headers,
        )
        assert answer.status_code == 202, answer.text
        return await run_worker(str(answer.json()["data"]["sync_id"]))

    log = await sync()
    assert (log["status"], log["success_count"], log["error_count"]) == ("completed", 8, 0)
    assert writes(calls, "quickbooks") == ["batch", "batch"]
    items = await quickbooks_items(integration_settings, db, venue)
    assert len(items) == 32

    calls.clear()
    log = await sync()
    assert log["status"] == "completed" and writes(calls, "quickbooks") == []

    edited = made["ticket_types"][0]
    async with db.transaction() as session:
        await session.execute(
            text("UPDATE ticket_types SET price = 12 WHERE id = :id"), {"id": edited}
        )
    calls.clear()
    log = await sync()
    assert (log["status"], log["success_count"]) == ("completed", 1)
    after = await quickbooks_items(integration_settings, db, venue)
    assert {i["Id"] for i in after} == {i["Id"] for i in items}
    changed = [i for i in after if i["Sku"] == str(edited)]
    assert [(i["UnitPrice"], i["SyncToken"]) for i in changed] == [(12, "1")]
