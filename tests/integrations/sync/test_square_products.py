"""Products to Square through the real route, queue and worker: the venue's events become catalog
ITEMs (counted at the sandbox), a second run writes nothing, an edit updates the same object."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import text
from tests.integrations.sync.conftest import (
    BASE,
    RunWorker,
    admin,
    connect,
    seed_venue,
    writes,
)

from tickettoken.integrations.connections.clients import ProviderClients
from tickettoken.integrations.connections.credentials import access_credentials
from tickettoken.integrations.providers import CallRecord, SquareProvider
from tickettoken.integrations.sync.mapping import legacy_content_hash
from tickettoken.integrations.sync.sources import changed_products
from tickettoken.kit.db import Database
from tickettoken.kit.settings import Settings


async def square_items(settings: Settings, db: Database, venue: uuid.UUID) -> list[Any]:
    """The seller's catalog ITEMs, read from the sandbox over its API."""
    clients = ProviderClients(settings)
    try:
        square = await clients.get("square")
        assert isinstance(square, SquareProvider)
        credentials = await access_credentials(db, venue, "square", clients=clients)
        found: list[Any] = []
        cursor = None
        while True:
            page, cursor = await square.catalog_list(credentials, types="ITEM", cursor=cursor)
            found += page
            if not cursor:
                return found
    finally:
        await clients.aclose()


async def start(
    client: httpx.AsyncClient, headers: dict[str, str], venue: uuid.UUID, **body: Any
) -> str:
    answer = await client.post(
        f"{BASE}/sync/square/sync",
        json={"venueId": str(venue), "syncType": "products", "direction": "to_provider", **body},
        headers=headers,
    )
    assert answer.status_code == 202, answer.text
    data = answer.json()["data"]
    assert data["status"] == "pending"
    return str(data["sync_id"])


async def test_products_sync_creates_the_items_then_writes_nothing_then_updates_in_place(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    integration_settings: Settings,
    calls: list[CallRecord],
    run_worker: RunWorker,
) -> None:
    made = await seed_venue(db, events=3, ticket_types=2)
    venue = made["venue"]
    headers = admin(token_for, venue)
    await connect(client, headers, venue, "square")

    sync_id = await start(client, headers, venue)
    # Queued, not done in the request: nothing at Square yet.
    assert writes(calls, "square") == []
    log = await run_worker(sync_id)
    assert (log["status"], log["success_count"], log["error_count"]) == ("completed", 3, 0)
    assert writes(calls, "square") == ["catalog.batch_upsert"]  # one batch for 3 items
    items = await square_items(integration_settings, db, venue)
    assert len(items) == 3
    assert sorted(len(i.item_data.variations) for i in items) == [2, 2, 2]
    versions = {i.id: i.version for i in items}

    # Nothing changed: the second sync makes no write call at all.
    calls.clear()
    log = await run_worker(await start(client, headers, venue))
    assert log["status"] == "completed" and writes(calls, "square") == []
    assert {
        i.id: i.version for i in await square_items(integration_settings, db, venue)
    } == versions

    # One ticket type's price changes: the same ITEM and variation are updated, nothing created.
    edited = made["ticket_types"][0]
    async with db.transaction() as session:
        await session.execute(
            text("UPDATE ticket_types SET price = 99.50 WHERE id = :id"), {"id": edited}
        )
    calls.clear()
    log = await run_worker(await start(client, headers, venue))
    # Records seen within the cursor's overlap are read again but skipped by their hash.
    assert (log["status"], log["success_count"], log["error_count"]) == ("completed", 1, 0)
    assert log["skip_count"] == log["entity_count"] - 1
    assert writes(calls, "square") == ["catalog.batch_upsert"]
    after = await square_items(integration_settings, db, venue)
    assert {i.id for i in after} == set(versions)  # no new object
    prices = sorted(
        v.item_variation_data.price_money.amount for i in after for v in i.item_data.variations
    )
    assert prices == [2000, 2000, 3000, 3000, 3000, 9950]
    changed = [i for i in after if i.version != versions[i.id]]
    assert len(changed) == 1


async def test_status_history_and_another_venue(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    calls: list[CallRecord],
    run_worker: RunWorker,
) -> None:
    made = await seed_venue(db, events=1)
    venue = made["venue"]
    headers = admin(token_for, venue)
    await connect(client, headers, venue, "square")
    sync_id = await start(client, headers, venue)
    again = await client.post(
        f"{BASE}/sync/square/sync", json={"venue_id": str(venue)}, headers=headers
    )
    assert again.status_code == 409  # one sync at a time per venue and provider
    await run_worker(sync_id)
    status = await client.get(
        f"{BASE}/sync/square/sync/status", params={"venue_id": str(venue)}, headers=headers
    )
    assert status.status_code == 200, status.text
    view = status.json()["data"]
    assert (view["sync_id"], view["status"], view["succeeded"]) == (sync_id, "completed", 1)
    assert view["work_items"]["completed"] == 1
    history = await client.get(
        f"{BASE}/sync/square/sync/history", params={"venue_id": str(venue)}, headers=headers
    )
    assert history.status_code == 200 and history.json()["pagination"]["total"] == 1

    intruder = admin(token_for, uuid.uuid4())
    for method, path, body in (
        ("POST", "/sync/square/sync", {"venue_id": str(venue), "sync_type": "products"}),
        ("GET", f"/sync/square/sync/status?venue_id={venue}", None),
        ("GET", f"/sync/square/sync/history?venue_id={venue}", None),
        ("POST", "/sync/square/sync/stop", {"venue_id": str(venue)}),
        ("POST", "/sync/square/sync/retry", {"venue_id": str(venue)}),
    ):
        answer = await client.request(method, f"{BASE}{path}", json=body, headers=intruder)
        assert answer.status_code == 404, (method, path, answer.text)
    not_connected = await client.post(
        f"{BASE}/sync/stripe/sync", json={"venue_id": str(venue)}, headers=headers
    )
    assert not_connected.status_code == 404
    bad = await client.post(
        f"{BASE}/sync/square/sync",
        json={"venue_id": str(venue), "syncType": "x"},
        headers=headers,
    )
    assert bad.status_code == 422


def test_square_products_items_are_filled_to_one_batch_of_objects() -> None:
    """Work items hold as many events as fit one 1,000-object batch (an ITEM and its
    variations), in order; an event heavier than a batch stands alone."""
    from tickettoken.integrations.sync.engine import _weighed_chunks
    from tickettoken.integrations.sync.registry import ITEM_WEIGHT

    limit, weigh = ITEM_WEIGHT[("square", "products")]
    events = [{"local_id": str(n), "variations": [{}] * 3} for n in range(600)]
    chunks = list(_weighed_chunks(events, limit, weigh))
    assert [len(c) for c in chunks] == [250, 250, 100]
    assert [e["local_id"] for c in chunks for e in c] == [str(n) for n in range(600)]
    mixed = [{"local_id": "big", "variations": [{}] * 1200}, *events[:2]]
    assert [len(c) for c in _weighed_chunks(mixed, limit, weigh)] == [1, 2]


async def test_records_synced_under_the_earlier_hash_kind_are_not_pushed_again(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    calls: list[CallRecord],
    run_worker: RunWorker,
) -> None:
    made = await seed_venue(db, events=3, ticket_types=2)
    venue = made["venue"]
    headers = admin(token_for, venue)
    await connect(client, headers, venue, "square")
    await run_worker(await start(client, headers, venue))
    # The stored hashes as a release before the orjson hashes wrote them, then every event
    # touched (read again by the next incremental sync) without a change of content.
    async with db.transaction() as session:
        records = await changed_products(session, venue, None)
        for record in records:
            await session.execute(
                text(
                    "UPDATE integration_synced_records SET content_hash = :h"
                    " WHERE venue_id = :v AND provider = 'square' AND local_id = :id"
                ),
                {"h": legacy_content_hash(record), "v": venue, "id": record["local_id"]},
            )
        await session.execute(
            text("UPDATE events SET updated_at = now() WHERE venue_id = :v"), {"v": venue}
        )
    assert len(records) == 3 and not records[0]["content_hash"].isalnum()
    calls.clear()
    log = await run_worker(await start(client, headers, venue))
    assert (log["status"], log["skip_count"], log["success_count"]) == ("completed", 3, 0)
    assert writes(calls, "square") == []
