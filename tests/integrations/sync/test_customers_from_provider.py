"""Customers coming back from the providers (from_provider) and both ways (bidirectional), against
the sandboxes over HTTP with a real worker: an edit made through the provider's API comes back,
a Mailchimp unsubscribe clears consent, an unchanged second run writes nothing to the platform,
the next push does not echo the change back, a conflict keeps the newer side and is logged, and
no customer is ever duplicated on either side."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from tests.integrations.helpers import Sandbox, approve
from tests.integrations.sync.conftest import BASE, RunWorker, admin, connect, seed_venue, writes
from tests.integrations.sync.test_customers import make_audience, seed_customers

from tickettoken.integrations.connections.clients import ProviderClients
from tickettoken.integrations.connections.credentials import access_credentials
from tickettoken.integrations.providers import (
    CallRecord,
    Credentials,
    MailchimpProvider,
    Provider,
    QuickBooksProvider,
    SquareProvider,
    StripeProvider,
)
from tickettoken.integrations.providers.mailchimp import member_hash
from tickettoken.kit.db import Database
from tickettoken.kit.settings import Settings


class Remote:
    """The provider as the venue's staff would use it: its API with the venue's token."""

    def __init__(self, settings: Settings, db: Database, venue: uuid.UUID, name: str) -> None:
        self.settings, self.db, self.venue, self.name = settings, db, venue, name
        self.clients = ProviderClients(settings)

    async def open(self) -> tuple[Provider, Credentials]:
        provider = await self.clients.get(self.name)
        credentials = await access_credentials(self.db, self.venue, self.name, clients=self.clients)
        return provider, credentials


@pytest.fixture
async def remote_for(
    integration_settings: Settings, db: Database
) -> AsyncIterator[Callable[[uuid.UUID, str], Remote]]:
    made: list[Remote] = []

    def make(venue: uuid.UUID, name: str) -> Remote:
        made.append(Remote(integration_settings, db, venue, name))
        return made[-1]

    yield make
    for remote in made:
        await remote.clients.aclose()


async def remote_id(db: Database, venue: uuid.UUID, provider: str, customer: uuid.UUID) -> str:
    async with db.transaction() as session:
        found = await session.scalar(
            text(
                "SELECT remote_id FROM integration_synced_records WHERE venue_id = :v"
                " AND provider = :p AND entity_type = 'customers' AND local_id = :l"
            ),
            {"v": venue, "p": provider, "l": str(customer)},
        )
    assert found, "the customer was pushed first"
    return str(found)


async def customers(db: Database, venue: uuid.UUID) -> dict[uuid.UUID, dict[str, Any]]:
    async with db.transaction() as session:
        rows = await session.execute(
            text("SELECT * FROM customers WHERE venue_id = :v ORDER BY id"), {"v": venue}
        )
        return {row["id"]: dict(row) for row in rows.mappings()}


def syncer(
    client: httpx.AsyncClient, headers: dict[str, str], venue: uuid.UUID, run_worker: RunWorker
) -> Callable[..., Any]:
    async def sync(provider: str, direction: str) -> dict[str, Any]:
        answer = await client.post(
            f"{BASE}/sync/{provider}/sync",
            json={"venueId": str(venue), "syncType": "customers", "direction": direction},
            headers=headers,
        )
        assert answer.status_code == 202, answer.text
        return await run_worker(str(answer.json()["data"]["sync_id"]))

    return sync


async def edit_at_provider(remote: Remote, venue_db: Database, customer: uuid.UUID) -> None:
    """Family name 'Hopper' and a phone, set through the provider's own API."""
    provider, credentials = await remote.open()
    rid = await remote_id(venue_db, remote.venue, remote.name, customer)
    if isinstance(provider, SquareProvider):
        await provider.update_customer(
            credentials, rid, {"family_name": "Hopper", "phone_number": "+15550100"}
        )
    elif isinstance(provider, StripeProvider):
        await provider.update_customer(
            credentials, rid, {"name": "Ada Hopper", "phone": "+15550100"}
        )
    else:
        assert isinstance(provider, QuickBooksProvider)
        current = await provider.read(credentials, "Customer", rid)
        await provider.update(
            credentials,
            "Customer",
            {
                "Id": rid,
                "SyncToken": current["SyncToken"],
                "FamilyName": "Hopper",
                "PrimaryPhone": {"FreeFormNumber": "+15550100"},
            },
        )


@pytest.mark.parametrize("provider", ["square", "stripe", "quickbooks"])
async def test_an_edit_at_the_provider_comes_back_once(
    provider: str,
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    calls: list[CallRecord],
    run_worker: RunWorker,
    remote_for: Callable[[uuid.UUID, str], Remote],
) -> None:
    venue = (await seed_venue(db, events=0))["venue"]
    ids = await seed_customers(db, venue, [True, False])
    headers = admin(token_for, venue)
    await connect(client, headers, venue, provider)
    sync = syncer(client, headers, venue, run_worker)
    assert (await sync(provider, "to_provider"))["status"] == "completed"

    await edit_at_provider(remote_for(venue, provider), db, ids[0])
    log = await sync(provider, "from_provider")
    assert (log["status"], log["success_count"], log["error_count"]) == ("completed", 1, 0), log
    assert log["details"]["conflicts"] == []
    after = await customers(db, venue)
    assert len(after) == 2  # nothing imported twice
    assert (after[ids[0]]["last_name"], after[ids[0]]["phone"]) == ("Hopper", "+15550100")
    assert after[ids[1]]["last_name"] == "Fan1"

    calls.clear()
    log = await sync(provider, "from_provider")
    assert (log["status"], log["success_count"]) == ("completed", 0)
    assert await customers(db, venue) == after  # nothing written to the platform
    assert writes(calls, provider) == []

    log = await sync(provider, "to_provider")  # the change is not sent back
    assert log["status"] == "completed" and writes(calls, provider) == []

    async with db.transaction() as session:  # the stored version follows the provider's
        await session.execute(
            text("UPDATE customers SET last_name = 'Lovelace', updated_at = now() WHERE id = :id"),
            {"id": ids[0]},
        )
    log = await sync(provider, "to_provider")
    assert (log["status"], log["success_count"], log["error_count"]) == ("completed", 1, 0), log


async def test_a_mailchimp_unsubscribe_clears_consent(
    sandbox: Sandbox,
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    integration_settings: Settings,
    calls: list[CallRecord],
    run_worker: RunWorker,
    remote_for: Callable[[uuid.UUID, str], Remote],
) -> None:
    venue = (await seed_venue(db, events=0))["venue"]
    ids = await seed_customers(db, venue, [True, True, False])
    headers = admin(token_for, venue)
    # A Mailchimp account of its own: the sync uses the account's first audience.
    account = sandbox.control("/_sandbox/mailchimp/accounts", {"name": "Unsubscribe hall"})
    started = await client.post(
        f"{BASE}/connect/mailchimp", json={"venueId": str(venue)}, headers=headers
    )
    params = await approve(started.json()["data"]["authorization_url"], account=account["id"])
    done = await client.get(f"{BASE}/oauth/callback/mailchimp", params=params)
    assert done.status_code == 200, done.text
    await make_audience(integration_settings, db, venue)
    sync = syncer(client, headers, venue, run_worker)
    assert (await sync("mailchimp", "to_provider"))["success_count"] == 2

    mailchimp, credentials = await remote_for(venue, "mailchimp").open()
    assert isinstance(mailchimp, MailchimpProvider)
    audience = (await mailchimp.lists(credentials))[0]["id"]
    email = (await customers(db, venue))[ids[0]]["email"]
    await mailchimp.request(
        credentials,
        "members.update",
        "PATCH",
        f"/lists/{audience}/members/{member_hash(email)}",
        json={"status": "unsubscribed"},
    )

    log = await sync("mailchimp", "from_provider")
    assert (log["status"], log["success_count"], log["error_count"]) == ("completed", 1, 0), log
    after = await customers(db, venue)
    assert len(after) == 3
    assert [after[i]["marketing_consent"] for i in ids] == [False, True, False]
    assert after[ids[0]]["marketing_consent_source"] == "provider_sync"
    assert after[ids[0]]["marketing_consent_at"] is not None

    calls.clear()
    log = await sync("mailchimp", "from_provider")
    assert (log["status"], log["success_count"]) == ("completed", 0)
    assert await customers(db, venue) == after
    log = await sync("mailchimp", "to_provider")  # no re-subscribe of the one who left
    assert log["status"] == "completed" and writes(calls, "mailchimp") == []
    member = await mailchimp.request(
        credentials, "members.get", "GET", f"/lists/{audience}/members/{member_hash(email)}"
    )
    assert member["status"] == "unsubscribed"

    async with db.transaction() as session:  # consent withdrawn on the platform goes out too
        await session.execute(
            text(
                "UPDATE customers SET marketing_consent = false, updated_at = now() WHERE id = :id"
            ),
            {"id": ids[1]},
        )
    calls.clear()
    log = await sync("mailchimp", "to_provider")
    assert (log["status"], log["success_count"]) == ("completed", 1)
    assert writes(calls, "mailchimp") == ["lists.batch_subscribe"]
    email = (await customers(db, venue))[ids[1]]["email"]
    member = await mailchimp.request(
        credentials, "members.get", "GET", f"/lists/{audience}/members/{member_hash(email)}"
    )
    assert member["status"] == "unsubscribed"


async def test_bidirectional_keeps_the_newer_change_and_logs_the_conflict(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    run_worker: RunWorker,
    remote_for: Callable[[uuid.UUID, str], Remote],
) -> None:
    venue = (await seed_venue(db, events=0))["venue"]
    ids = await seed_customers(db, venue, [True, True, True])
    headers = admin(token_for, venue)
    await connect(client, headers, venue, "square")
    sync = syncer(client, headers, venue, run_worker)
    assert (await sync("square", "bidirectional"))["success_count"] == 3

    square, credentials = await remote_for(venue, "square").open()
    assert isinstance(square, SquareProvider)
    rids = [await remote_id(db, venue, "square", i) for i in ids]

    async def edit_here(customer: uuid.UUID, name: str) -> None:
        async with db.transaction() as session:
            await session.execute(
                text("UPDATE customers SET last_name = :n, updated_at = now() WHERE id = :id"),
                {"id": customer, "n": name},
            )
        await asyncio.sleep(0.05)

    async def edit_there(rid: str, name: str) -> None:
        await square.update_customer(credentials, rid, {"family_name": name})
        await asyncio.sleep(0.05)

    await edit_here(ids[0], "Platform0")  # then Square: Square's is newer
    await edit_there(rids[0], "Square0")
    await edit_there(rids[1], "Square1")  # then the platform: the platform's is newer
    await edit_here(ids[1], "Platform1")
    await edit_there(rids[2], "Square2")  # only Square: no conflict

    log = await sync("square", "bidirectional")
    assert (log["status"], log["error_count"]) == ("completed", 0), log
    conflicts = {c["local_id"]: c for c in log["details"]["conflicts"]}
    assert set(conflicts) == {str(ids[0]), str(ids[1])}
    first, second = conflicts[str(ids[0])], conflicts[str(ids[1])]
    assert first["winner"] == "provider" and second["winner"] == "platform"
    assert first["fields"]["last_name"] == {"platform": "Platform0", "provider": "Square0"}
    assert second["fields"]["last_name"] == {"platform": "Platform1", "provider": "Square1"}

    status = await client.get(
        f"{BASE}/sync/square/sync/status", params={"venueId": str(venue)}, headers=headers
    )
    shown = {c["local_id"]: c["winner"] for c in status.json()["data"]["conflicts"]}
    assert shown == {str(ids[0]): "provider", str(ids[1]): "platform"}

    here = await customers(db, venue)
    assert [here[i]["last_name"] for i in ids] == ["Square0", "Platform1", "Square2"]
    there = {c.id: c for c in await square.search_customers(credentials, {})}
    assert len(there) == 3  # no duplicate at Square
    assert [there[r].family_name for r in rids] == ["Square0", "Platform1", "Square2"]

    log = await sync("square", "bidirectional")  # settled: nothing moves either way
    assert (log["status"], log["success_count"], log["details"]["conflicts"]) == (
        "completed",
        0,
        [],
    )
    assert await customers(db, venue) == here


async def test_products_stay_to_provider(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    calls: list[CallRecord],
    run_worker: RunWorker,
) -> None:
    venue = (await seed_venue(db, events=1, ticket_types=1))["venue"]
    headers = admin(token_for, venue)
    await connect(client, headers, venue, "square")
    answer = await client.post(
        f"{BASE}/sync/square/sync",
        json={"venueId": str(venue), "syncType": "products", "direction": "from_provider"},
        headers=headers,
    )
    log = await run_worker(str(answer.json()["data"]["sync_id"]))
    assert log["status"] == "failed" and "products stay to_provider only" in str(log["errors"])
    assert calls == []


async def test_an_email_taken_or_a_second_match_changes_nothing_it_should_not(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    run_worker: RunWorker,
    remote_for: Callable[[uuid.UUID, str], Remote],
) -> None:
    venue = (await seed_venue(db, events=0))["venue"]
    ids = await seed_customers(db, venue, [True, True])
    headers = admin(token_for, venue)
    await connect(client, headers, venue, "square")
    sync = syncer(client, headers, venue, run_worker)
    assert (await sync("square", "to_provider"))["status"] == "completed"
    before = await customers(db, venue)
    square, credentials = await remote_for(venue, "square").open()
    assert isinstance(square, SquareProvider)
    await square.update_customer(
        credentials,
        await remote_id(db, venue, "square", ids[0]),
        {"email_address": before[ids[1]]["email"].upper(), "family_name": "Hopper"},
    )
    # A second Square customer with a synced customer's email (made at the box office).
    await square.create_customer(
        credentials, {"email_address": before[ids[1]]["email"], "family_name": "Other"}
    )

    log = await sync("square", "from_provider")
    assert (log["status"], log["success_count"], log["error_count"]) == ("completed", 1, 0), log
    assert "belongs to another customer" in str(log["errors"])
    after = await customers(db, venue)
    assert after[ids[0]]["email"] == before[ids[0]]["email"]  # kept: it would collide
    assert after[ids[0]]["last_name"] == "Hopper"  # the rest applied
    assert after[ids[1]]["last_name"] == "Fan1"  # its link stays: nothing merged
    assert "is synced with" in str(log["errors"])
    assert len(after) == 2


async def test_a_value_only_the_platform_holds_is_still_pushed(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    run_worker: RunWorker,
    remote_for: Callable[[uuid.UUID, str], Remote],
) -> None:
    venue = (await seed_venue(db, events=0))["venue"]
    ids = await seed_customers(db, venue, [True])
    headers = admin(token_for, venue)
    await connect(client, headers, venue, "square")
    sync = syncer(client, headers, venue, run_worker)
    assert (await sync("square", "to_provider"))["status"] == "completed"
    async with db.transaction() as session:
        await session.execute(
            text("UPDATE customers SET phone = '+15550199', updated_at = now() WHERE id = :id"),
            {"id": ids[0]},
        )

    log = await sync("square", "from_provider")  # Square has no phone: it says nothing
    assert (log["status"], log["success_count"]) == ("completed", 0)
    log = await sync("square", "to_provider")
    assert (log["status"], log["success_count"]) == ("completed", 1)
    square, credentials = await remote_for(venue, "square").open()
    assert isinstance(square, SquareProvider)
    found = await square.search_customers(credentials, {})
    assert [c.phone_number for c in found] == ["+15550199"]
