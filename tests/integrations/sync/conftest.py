"""Fixtures of the sync tests: a Square-connected venue with events, a real worker that runs the
``sync`` job in-process, and provider clients whose observer counts every call."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from tests.integrations.helpers import approve
from tests.integrations.workers import communication_worker
from tests.support import auth_header

from tickettoken.integrations.connections.clients import ProviderClients
from tickettoken.integrations.providers import CallRecord
from tickettoken.integrations.sync import engine
from tickettoken.kit.db import Database
from tickettoken.kit.settings import Settings

BASE = "/api/v1/integrations"
FINISHED = ("completed", "partial", "failed")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, pool_min=1, pool_max=5)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def calls(integration_settings: Settings) -> AsyncIterator[list[CallRecord]]:
    """Every provider call the sync makes (the clients every sync job of the process uses)."""
    seen: list[CallRecord] = []

    async def observe(record: CallRecord) -> None:
        seen.append(record)

    clients = ProviderClients(integration_settings, observer=observe)
    engine.use_clients(clients)
    try:
        yield seen
    finally:
        engine.use_clients(None)
        await clients.aclose()


def writes(records: list[CallRecord], provider: str) -> list[str]:
    return [
        r.endpoint
        for r in records
        if r.provider == provider
        and r.method != "GET"
        and not r.endpoint.endswith((".list", ".search", ".retrieve"))
    ]


async def connect(
    client: httpx.AsyncClient, headers: dict[str, str], venue: uuid.UUID, provider: str
) -> None:
    started = await client.post(
        f"{BASE}/connect/{provider}", json={"venueId": str(venue)}, headers=headers
    )
    assert started.status_code == 200, started.text
    params = await approve(started.json()["data"]["authorization_url"])
    done = await client.get(f"{BASE}/oauth/callback/{provider}", params=params)
    assert done.status_code == 200, done.text


async def seed_venue(db: Database, events: int, ticket_types: int = 2) -> dict[str, Any]:
    """A venue with ``events`` events of ``ticket_types`` ticket types each, by SQL."""
    venue = uuid.uuid4()
    made: dict[str, Any] = {"venue": venue, "events": [], "ticket_types": []}
    async with db.transaction() as session:
        await session.execute(
            text("INSERT INTO venues (id, name, capacity) VALUES (:id, :name, 1000)"),
            {"id": venue, "name": f"Hall {venue.hex[:6]}"},
        )
        for n in range(events):
            event = uuid.uuid4()
            await session.execute(
                text(
                    "INSERT INTO events (id, venue_id, name, description, start_date, end_date,"
                    " capacity) VALUES (:id, :venue, :name, 'A night out',"
                    " now() + interval '30 days', now() + interval '30 days 3 hours', 500)"
                ),
                {"id": event, "venue": venue, "name": f"Show {n} {venue.hex[:6]}"},
            )
            made["events"].append(event)
            for k in range(ticket_types):
                tt = uuid.uuid4()
                await session.execute(
                    text(
                        "INSERT INTO ticket_types (id, event_id, name, price, quantity)"
                        " VALUES (:id, :event, :name, :price, 100)"
                    ),
                    {"id": tt, "event": event, "name": f"Tier {k}", "price": 20 + 10 * k},
                )
                made["ticket_types"].append(tt)
    return made


RunWorker = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def run_worker(db: Database, integration_settings: Settings) -> RunWorker:
    """Run a real worker (every handler of the service table) until the sync's log ends."""

    async def run(sync_id: str, within: float = 30.0) -> dict[str, Any]:
        # A lease of 2 s: a killed worker's job is reclaimed within a second.
        async with communication_worker(db, integration_settings, lease=2.0, poll_interval=0.1):
            deadline = asyncio.get_running_loop().time() + within
            while True:
                log = await sync_log(db, sync_id)
                if log["status"] in FINISHED:
                    return log
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"sync did not finish: {log}")
                await asyncio.sleep(0.1)

    return run


async def sync_log(db: Database, sync_id: str) -> dict[str, Any]:
    async with db.transaction() as session:
        row = await session.execute(
            text("SELECT * FROM sync_logs WHERE sync_id = :s"), {"s": uuid.UUID(sync_id)}
        )
        return dict(row.mappings().one())


def admin(token_for: Callable[..., str], venue: uuid.UUID) -> dict[str, str]:
    return auth_header(token_for("venue_admin", venue_ids=[str(venue)]))
