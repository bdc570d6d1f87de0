"""Customers to Square, Stripe, Mailchimp and QuickBooks (batch): created once, not written again
when unchanged, updated in place on an edit; Mailchimp gets only the customers who gave marketing
consent, in one batch subscribe."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from tests.integrations.sync.conftest import BASE, RunWorker, admin, connect, seed_venue, writes

from tickettoken.integrations.connections.clients import ProviderClients
from tickettoken.integrations.connections.credentials import access_credentials
from tickettoken.integrations.providers import (
    CallRecord,
    MailchimpProvider,
    QuickBooksProvider,
    SquareProvider,
    StripeProvider,
)
from tickettoken.kit.db import Database
from tickettoken.kit.settings import Settings


async def seed_customers(db: Database, venue: uuid.UUID, consents: list[bool]) -> list[uuid.UUID]:
    ids = []
    async with db.transaction() as session:
        for n, consent in enumerate(consents):
            customer = uuid.uuid4()
            await session.execute(
                text(
                    "INSERT INTO customers (id, venue_id, email, first_name, last_name,"
                    " marketing_consent) VALUES (:id, :venue, :email, 'Ada', :last, :consent)"
                ),
                {
                    "id": customer,
                    "venue": venue,
                    "email": f"fan{n}.{customer.hex[:6]}@example.com",
                    "last": f"Fan{n}",
                    "consent": consent,
                },
            )
            ids.append(customer)
    return ids


async def remote_customers(
    settings: Settings, db: Database, venue: uuid.UUID, provider: str
) -> list[tuple[str, str]]:
    """(email, family name) of every customer or member at the provider, read over its API."""
    clients = ProviderClients(settings)
    try:
        client = await clients.get(provider)
        credentials = await access_credentials(db, venue, provider, clients=clients)
        if isinstance(client, SquareProvider):
            found = await client.search_customers(credentials, {})
            return sorted((c.email_address, c.family_name) for c in found)
        if isinstance(client, StripeProvider):
            page = await client.list_customers(credentials)
            return sorted((c.email, c.name.split(" ")[-1]) for c in page.data)
        if isinstance(client, QuickBooksProvider):
            found = (await client.query(credentials, "select * from Customer")).get("Customer", [])
            return sorted((c["PrimaryEmailAddr"]["Address"], c["FamilyName"]) for c in found)
        assert isinstance(client, MailchimpProvider)
        audience = (await client.lists(credentials))[0]
        members = await client.list_members(credentials, audience["id"])
        return sorted((m["email_address"], m["merge_fields"]["LNAME"]) for m in members["members"])
    finally:
        await clients.aclose()


async def make_audience(settings: Settings, db: Database, venue: uuid.UUID) -> None:
    clients = ProviderClients(settings)
    try:
        mailchimp = await clients.get("mailchimp")
        assert isinstance(mailchimp, MailchimpProvider)
        credentials = await access_credentials(db, venue, "mailchimp", clients=clients)
        await mailchimp.create_list(
            credentials,
            {
                "name": "Fans",
                "contact": {
                    "company": "Hall",
                    "address1": "1 Main St",
                    "city": "Town",
                    "state": "CA",
                    "zip": "90000",
                    "country": "US",
                },
                "permission_reminder": "You bought a ticket",
                "campaign_defaults": {
                    "from_name": "Hall",
                    "from_email": "hall@example.com",
                    "subject": "News",
                    "language": "en",
                },
                "email_type_option": False,
            },
        )
    finally:
        await clients.aclose()


@pytest.mark.parametrize("provider", ["square", "stripe", "mailchimp", "quickbooks"])
async def test_customers_are_upserted(
    provider: str,
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    integration_settings: Settings,
    calls: list[CallRecord],
    run_worker: RunWorker,
) -> None:
    venue = (await seed_venue(db, events=0))["venue"]
    consents = [True, False, True]
    customers = await seed_customers(db, venue, consents)
    headers = admin(token_for, venue)
    await connect(client, headers, venue, provider)
    if provider == "mailchimp":
        await make_audience(integration_settings, db, venue)
    expected = 2 if provider == "mailchimp" else 3

    async def sync() -> dict[str, Any]:
        answer = await client.post(
            f"{BASE}/sync/{provider}/sync",
            json={"venueId": str(venue), "syncType": "customers"},
            headers=headers,
        )
        assert answer.status_code == 202, answer.text
        return await run_worker(str(answer.json()["data"]["sync_id"]))

    log = await sync()
    assert (log["status"], log["success_count"], log["error_count"]) == ("completed", expected, 0)
    found = await remote_customers(integration_settings, db, venue, provider)
    assert len(found) == expected
    if provider == "mailchimp":
        assert writes(calls, provider) == ["lists.batch_subscribe"]
    if provider == "quickbooks":
        assert writes(calls, provider) == ["batch"]  # three customers, one batch
    if provider == "square":
        assert writes(calls, provider) == ["customers.bulk_create"]

    calls.clear()
    log = await sync()
    assert log["status"] == "completed" and writes(calls, provider) == []

    async with db.transaction() as session:
        await session.execute(
            text("UPDATE customers SET last_name = 'Lovelace' WHERE id = :id"),
            {"id": customers[0]},
        )
    calls.clear()
    log = await sync()
    assert (log["status"], log["success_count"]) == ("completed", 1)
    if provider == "square":
        assert writes(calls, provider) == ["customers.bulk_update"]
    after = await remote_customers(integration_settings, db, venue, provider)
    assert len(after) == expected  # updated in place
    assert sum(name == "Lovelace" for _, name in after) == 1


async def test_square_customers_go_100_a_call_and_a_refused_entry_fails_alone(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    calls: list[CallRecord],
    run_worker: RunWorker,
) -> None:
    venue = (await seed_venue(db, events=0))["venue"]
    customers = await seed_customers(db, venue, [False] * 150)
    headers = admin(token_for, venue)
    await connect(client, headers, venue, "square")

    async def sync() -> dict[str, Any]:
        answer = await client.post(
            f"{BASE}/sync/square/sync",
            json={"venueId": str(venue), "syncType": "customers"},
            headers=headers,
        )
        assert answer.status_code == 202, answer.text
        return await run_worker(str(answer.json()["data"]["sync_id"]))

    log = await sync()
    assert (log["status"], log["success_count"], log["error_count"]) == ("completed", 150, 0)
    assert writes(calls, "square") == ["customers.bulk_create"] * 2
    async with db.transaction() as session:
        linked = await session.scalar(
            text(
                "SELECT count(DISTINCT remote_id) FROM integration_synced_records"
                " WHERE venue_id = :venue AND provider = 'square' AND entity_type = 'customers'"
            ),
            {"venue": venue},
        )
        # One customer's stored version goes stale (edited at Square since): Square refuses
        # its entry with VERSION_MISMATCH; the other edited customer is still updated.
        await session.execute(
            text(
                "UPDATE integration_synced_records SET remote_version = '7' WHERE venue_id = :venue"
                " AND provider = 'square' AND entity_type = 'customers' AND local_id = :id"
            ),
            {"venue": venue, "id": str(customers[0])},
        )
        await session.execute(
            text("UPDATE customers SET last_name = 'Changed' WHERE id = ANY(:ids)"),
            {"ids": customers[:2]},
        )
    assert linked == 150
    calls.clear()
    log = await sync()
    assert (log["success_count"], log["error_count"]) == (1, 1), log
    assert log["status"] != "completed"
    assert "VERSION_MISMATCH" in str(log["errors"])
    # the two edited customers may fall in two work items (the cursor's overlap re-reads all 150)
    assert set(writes(calls, "square")) == {"customers.bulk_update"}, calls
    calls.clear()
    log = await sync()  # the refused one is sent again, the saved one is not
    assert writes(calls, "square") == ["customers.bulk_update"]
    assert log["error_count"] == 1
