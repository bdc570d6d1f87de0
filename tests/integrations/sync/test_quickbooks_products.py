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


async def test_full_sync_invoices_paid_orders_of_synced_customers_and_items(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    integration_settings: Settings,
    calls: list[CallRecord],
    run_worker: RunWorker,
) -> None:
    from tests.integrations.sync.test_customers import seed_customers

    made = await seed_venue(db, events=1, ticket_types=2)
    venue = made["venue"]
    (customer,) = await seed_customers(db, venue, [False])
    order = uuid.uuid4()
    async with db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO orders (id, customer_id, event_id, status, total, paid_at)"
                " VALUES (:id, :customer, :event, 'paid', 70, now())"
            ),
            {"id": order, "customer": customer, "event": made["events"][0]},
        )
        for tt, quantity, price in (
            (made["ticket_types"][0], 2, 20),
            (made["ticket_types"][1], 1, 30),
        ):
            await session.execute(
                text(
                    "INSERT INTO order_items (order_id, ticket_type_id, quantity, unit_price,"
                    " subtotal) VALUES (:order, :tt, :q, :p, :subtotal)"
                ),
                {"order": order, "tt": tt, "q": quantity, "p": price, "subtotal": quantity * price},
            )
    headers = admin(token_for, venue)
    await connect(client, headers, venue, "quickbooks")
    answer = await client.post(
        f"{BASE}/sync/quickbooks/sync",
        json={"venueId": str(venue), "syncType": "full"},
        headers=headers,
    )
    assert answer.status_code == 202, answer.text
    log = await run_worker(str(answer.json()["data"]["sync_id"]))
    # One event (2 items), one customer, one invoice.
    assert (log["status"], log["success_count"], log["error_count"]) == ("completed", 3, 0)
    clients = ProviderClients(integration_settings)
    try:
        quickbooks = await clients.get("quickbooks")
        assert isinstance(quickbooks, QuickBooksProvider)
        credentials = await access_credentials(db, venue, "quickbooks", clients=clients)
        invoices = (await quickbooks.query(credentials, "select * from Invoice")).get("Invoice")
    finally:
        await clients.aclose()
    assert invoices is not None and len(invoices) == 1
    assert invoices[0]["TotalAmt"] == 70
    assert invoices[0]["PrivateNote"] == f"TicketToken order {order}"

    calls.clear()
    answer = await client.post(
        f"{BASE}/sync/quickbooks/sync",
        json={"venueId": str(venue), "syncType": "transactions"},
        headers=headers,
    )
    log = await run_worker(str(answer.json()["data"]["sync_id"]))
    assert log["status"] == "completed" and writes(calls, "quickbooks") == []
