"""Customers that exist only at the provider are imported by from_provider and bidirectional
customer syncs (the sandboxes over HTTP, a real worker): deduplicated by email whatever its
case, linked in the synced records so the next push updates rather than creates, consent as
the provider says, counted in the sync log."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
from sqlalchemy import text
from tests.integrations.helpers import Sandbox, approve
from tests.integrations.sync.conftest import BASE, RunWorker, admin, connect, seed_venue, writes
from tests.integrations.sync.test_customers import make_audience, seed_customers
from tests.integrations.sync.test_customers_from_provider import (
    Remote,
    customers,
    remote_for,
    remote_id,
    syncer,
)

from tickettoken.integrations.providers import CallRecord, MailchimpProvider, SquareProvider
from tickettoken.kit.db import Database
from tickettoken.kit.settings import Settings

__all__ = ["remote_for"]  # the fixture, shared with test_customers_from_provider


async def test_square_only_customers_are_imported_once_and_then_updated_in_place(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    calls: list[CallRecord],
    run_worker: RunWorker,
    remote_for: Callable[[uuid.UUID, str], Remote],
) -> None:
    venue = (await seed_venue(db, events=0))["venue"]
    (known,) = await seed_customers(db, venue, [True])
    known_email = (await customers(db, venue))[known]["email"]
    headers = admin(token_for, venue)
    await connect(client, headers, venue, "square")
    square, credentials = await remote_for(venue, "square").open()
    assert isinstance(square, SquareProvider)
    walk_in = f"walk.in.{uuid.uuid4().hex[:8]}@example.com"
    made = await square.create_customer(
        credentials,
        {
            "given_name": "Grace",
            "family_name": "Walkin",
            "email_address": walk_in,
            "phone_number": "+15550123",
        },
    )
    # The platform's customer, typed in upper case at the box office: the same person.
    await square.create_customer(
        credentials,
        {"given_name": "Ada", "family_name": "Fan0", "email_address": known_email.upper()},
    )
    await square.create_customer(credentials, {"given_name": "No", "family_name": "Email"})

    sync = syncer(client, headers, venue, run_worker)
    log = await sync("square", "bidirectional")
    assert (log["status"], log["error_count"]) == ("completed", 0), log
    pull = log["details"]["pull"]
    assert (pull["imported"], pull["unmatched"]) == (1, 1), pull
    here = await customers(db, venue)
    assert len(here) == 2  # the upper-case email is the known customer, not a new one
    (imported,) = [c for c in here.values() if c["id"] != known]
    assert (imported["email"], imported["first_name"], imported["last_name"]) == (
        walk_in,
        "Grace",
        "Walkin",
    )
    assert imported["phone"] == "+15550123" and imported["marketing_consent"] is False
    assert await remote_id(db, venue, "square", imported["id"]) == made.id

    calls.clear()
    log = await sync("square", "bidirectional")  # settled: no write either way
    assert (log["status"], log["success_count"]) == ("completed", 0), log
    assert writes(calls, "square") == []
    assert await customers(db, venue) == here

    async with db.transaction() as session:
        await session.execute(
            text("UPDATE customers SET last_name = 'Hopper', updated_at = now() WHERE id = :id"),
            {"id": imported["id"]},
        )
    log = await sync("square", "to_provider")
    assert (log["status"], log["success_count"]) == ("completed", 1), log
    assert writes(calls, "square") == ["customers.bulk_update"]  # no create at Square
    there = {c.id: c for c in await square.search_customers(credentials, {})}
    assert len(there) == 3  # updated in place, nothing created at Square
    assert there[made.id].family_name == "Hopper"


async def test_mailchimp_only_members_are_imported_with_their_consent(
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
    headers = admin(token_for, venue)
    account = sandbox.control("/_sandbox/mailchimp/accounts", {"name": "Import hall"})
    started = await client.post(
        f"{BASE}/connect/mailchimp", json={"venueId": str(venue)}, headers=headers
    )
    params = await approve(started.json()["data"]["authorization_url"], account=account["id"])
    assert (await client.get(f"{BASE}/oauth/callback/mailchimp", params=params)).status_code == 200
    await make_audience(integration_settings, db, venue)
    mailchimp, credentials = await remote_for(venue, "mailchimp").open()
    assert isinstance(mailchimp, MailchimpProvider)
    audience = (await mailchimp.lists(credentials))[0]["id"]
    tag = uuid.uuid4().hex[:8]
    for name, status in (("subscribed", "subscribed"), ("left", "unsubscribed")):
        await mailchimp.request(
            credentials,
            "members.create",
            "POST",
            f"/lists/{audience}/members",
            json={
                "email_address": f"{name}.{tag}@example.com",
                "status": status,
                "merge_fields": {"FNAME": "Mail", "LNAME": name.title()},
            },
        )

    log = await syncer(client, headers, venue, run_worker)("mailchimp", "from_provider")
    assert (log["status"], log["success_count"]) == ("completed", 2), log
    assert log["details"]["pull"]["imported"] == 2
    consent = {c["email"]: c["marketing_consent"] for c in (await customers(db, venue)).values()}
    assert consent == {f"subscribed.{tag}@example.com": True, f"left.{tag}@example.com": False}

    calls.clear()
    log = await syncer(client, headers, venue, run_worker)("mailchimp", "to_provider")
    assert log["status"] == "completed" and writes(calls, "mailchimp") == []
