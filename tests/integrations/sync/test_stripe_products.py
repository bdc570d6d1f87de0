"""Products to Stripe: events become products and ticket types their prices; a second run writes
nothing; a changed price is a new price with the old one archived (Stripe prices are immutable),
on the same product."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import text
from tests.integrations.sync.conftest import BASE, RunWorker, admin, connect, seed_venue, writes

from tickettoken.integrations.connections.clients import ProviderClients
from tickettoken.integrations.connections.credentials import access_credentials
from tickettoken.integrations.providers import CallRecord, StripeProvider
from tickettoken.kit.db import Database
from tickettoken.kit.settings import Settings


async def stripe_catalog(
    settings: Settings, db: Database, venue: uuid.UUID
) -> tuple[list[Any], list[Any]]:
    """The connected account's products and prices, read from the sandbox over its API."""
    clients = ProviderClients(settings)
    try:
        stripe = await clients.get("stripe")
        assert isinstance(stripe, StripeProvider)
        credentials = await access_credentials(db, venue, "stripe", clients=clients)
        return (
            await stripe.list_products(credentials),
            await stripe.list_prices(credentials),
        )
    finally:
        await clients.aclose()


async def test_products_and_prices_are_upserted(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    integration_settings: Settings,
    calls: list[CallRecord],
    run_worker: RunWorker,
) -> None:
    made = await seed_venue(db, events=2, ticket_types=2)
    venue = made["venue"]
    headers = admin(token_for, venue)
    await connect(client, headers, venue, "stripe")

    async def sync() -> dict[str, Any]:
        answer = await client.post(
            f"{BASE}/sync/stripe/sync",
            json={"venueId": str(venue), "syncType": "products"},
            headers=headers,
        )
        assert answer.status_code == 202, answer.text
        return await run_worker(str(answer.json()["data"]["sync_id"]))

    log = await sync()
    assert (log["status"], log["success_count"]) == ("completed", 2)
    products, prices = await stripe_catalog(integration_settings, db, venue)
    assert len(products) == 2 and len(prices) == 4
    assert sorted(writes(calls, "stripe")) == ["prices.create"] * 4 + ["products.create"] * 2

    calls.clear()
    log = await sync()
    assert log["status"] == "completed" and writes(calls, "stripe") == []

    edited = made["ticket_types"][0]
    async with db.transaction() as session:
        await session.execute(
            text("UPDATE ticket_types SET price = 45 WHERE id = :id"), {"id": edited}
        )
    calls.clear()
    log = await sync()
    assert (log["status"], log["success_count"]) == ("completed", 1)
    assert sorted(writes(calls, "stripe")) == ["prices.create", "prices.update"]
    after, prices = await stripe_catalog(integration_settings, db, venue)
    assert {p.id for p in after} == {p.id for p in products}
    mine = [
        p for p in prices if p.metadata.to_dict().get("tickettoken_ticket_type_id") == str(edited)
    ]
    assert sorted((p.unit_amount, p.active) for p in mine) == [(2000, False), (4500, True)]
