"""Several work items of one sync pushed at once (``registry.CONCURRENCY``): a Mailchimp sync of
many items ends with exact counts, every member once at the sandbox, every item completed once,
and items really in flight together."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import httpx
from sqlalchemy import text
from tests.integrations.sync.conftest import RunWorker, admin, connect, seed_venue
from tests.integrations.sync.test_customers import make_audience, seed_customers

from tickettoken.integrations.connections.clients import ProviderClients
from tickettoken.integrations.connections.credentials import access_credentials
from tickettoken.integrations.providers import CallRecord, MailchimpProvider
from tickettoken.integrations.providers.mailchimp import member_hash
from tickettoken.integrations.sync import service
from tickettoken.kit.auth import Principal, Role
from tickettoken.kit.db import Database
from tickettoken.kit.settings import Settings

CUSTOMERS = 60
PER_ITEM = 5


async def members(settings: Settings, db: Database, venue: uuid.UUID, mine: set[str]) -> list[str]:
    """The audience's members among ``mine``, which are then removed (the sandbox account is
    shared by the session's tests, each of which reads "the first audience")."""
    clients = ProviderClients(settings)
    try:
        mailchimp = await clients.get("mailchimp")
        assert isinstance(mailchimp, MailchimpProvider)
        credentials = await access_credentials(db, venue, "mailchimp", clients=clients)
        audience = (await mailchimp.lists(credentials))[0]
        found = await mailchimp.list_members(credentials, audience["id"], count=1000)
        emails = [m["email_address"] for m in found["members"] if m["email_address"] in mine]
        await asyncio.gather(
            *(
                mailchimp.request(
                    credentials,
                    "members.delete",
                    "DELETE",
                    f"/lists/{audience['id']}/members/{member_hash(email)}",
                )
                for email in emails
            )
        )
        return emails
    finally:
        await clients.aclose()


async def test_many_items_pushed_at_once_end_with_exact_counts_and_no_duplicate(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    integration_settings: Settings,
    calls: list[CallRecord],
    run_worker: RunWorker,
) -> None:
    venue = (await seed_venue(db, events=0))["venue"]
    ids = await seed_customers(db, venue, [True] * CUSTOMERS)
    mine = {f"fan{n}.{c.hex[:6]}@example.com" for n, c in enumerate(ids)}
    await connect(client, admin(token_for, venue), venue, "mailchimp")
    await make_audience(integration_settings, db, venue)
    principal = Principal(sub="admin", role=Role.VENUE_ADMIN, venue_ids=frozenset({str(venue)}))
    async with db.transaction() as session:
        started = await service.start(
            session,
            principal,
            "mailchimp",
            venue,
            "customers",
            "to_provider",
            records_per_item=PER_ITEM,
        )
    log = await run_worker(str(started.sync_id), within=60)
    assert (log["status"], log["success_count"], log["error_count"], log["skip_count"]) == (
        "completed",
        CUSTOMERS,
        0,
        0,
    )
    found = await members(integration_settings, db, venue, mine)
    assert sorted(found) == sorted(mine)
    subscribes = [c for c in calls if c.endpoint == "lists.batch_subscribe"]
    assert len(subscribes) == CUSTOMERS // PER_ITEM  # each item pushed once
    # The audience is asked for once per sync, not once per item.
    assert [c.endpoint for c in calls].count("lists.list") == 1
    async with db.transaction() as session:
        items = (
            (
                await session.execute(
                    text(
                        "SELECT status, attempts, started_at, completed_at FROM sync_queue"
                        " WHERE sync_id = :s"
                    ),
                    {"s": started.sync_id},
                )
            )
            .mappings()
            .all()
        )
        synced = await session.scalar(
            text(
                "SELECT count(DISTINCT local_id) FROM integration_synced_records"
                " WHERE venue_id = :v AND provider = 'mailchimp'"
            ),
            {"v": venue},
        )
    assert [(i["status"], i["attempts"]) for i in items] == [("completed", 1)] * len(items)
    assert len(items) == CUSTOMERS // PER_ITEM and synced == CUSTOMERS
    # In flight together: some item was claimed before another one completed.
    spans = sorted((i["started_at"], i["completed_at"]) for i in items)
    most = max(sum(1 for s, e in spans if s <= at < e) for at, _ in spans)
    assert most >= 2, spans
