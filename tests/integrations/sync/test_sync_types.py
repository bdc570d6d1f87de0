"""A full sync moves products, customers and transactions in one run; what the engine does not do
(a type Mailchimp has no place for; products from the provider, ever) ends the sync failed with
the reason, never a fake success."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from tests.integrations.sync.conftest import BASE, RunWorker, admin, connect, seed_venue
from tests.integrations.sync.test_customers import seed_customers

from tickettoken.integrations.providers import CallRecord
from tickettoken.kit.db import Database


async def test_full_sync_and_what_is_not_supported(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    calls: list[CallRecord],
    run_worker: RunWorker,
) -> None:
    made = await seed_venue(db, events=2, ticket_types=1)
    venue = made["venue"]
    await seed_customers(db, venue, [True, False])
    headers = admin(token_for, venue)
    await connect(client, headers, venue, "square")

    async def sync(**body: str) -> dict[str, object]:
        answer = await client.post(
            f"{BASE}/sync/square/sync", json={"venueId": str(venue), **body}, headers=headers
        )
        assert answer.status_code == 202, answer.text
        return await run_worker(str(answer.json()["data"]["sync_id"]))

    log = await sync(syncType="full", direction="bidirectional")
    assert (log["status"], log["success_count"], log["entity_count"]) == ("completed", 4, 4)
    assert "to_provider only" in str(log["details"])

    for body, reason in (
        ({"syncType": "products", "direction": "from_provider"}, "products stay to_provider only"),
    ):
        calls.clear()
        log = await sync(**body)
        assert log["status"] == "failed" and reason in str(log["errors"]), log
        assert calls == []
    status = await client.get(
        f"{BASE}/sync/square/sync/status", params={"venueId": str(venue)}, headers=headers
    )
    assert status.json()["data"]["status"] == "failed"
