"""Crash, stop and retry: a worker killed (SIGKILL) mid-sync leaves leased items that return to
pending and are pushed once (Square replays a batch whose answer was lost); a stopped sync ends
failed (partial once something succeeded) with its counts; retry pushes only what was not done."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from tests.integrations.helpers import Sandbox
from tests.integrations.sync.conftest import (
    BASE,
    RunWorker,
    admin,
    connect,
    seed_venue,
    sync_log,
    writes,
)
from tests.integrations.sync.test_square_products import square_items
from tests.integrations.workers import communication_worker

from tickettoken.integrations.connections.clients import ProviderClients
from tickettoken.integrations.connections.credentials import access_credentials
from tickettoken.integrations.providers import CallRecord
from tickettoken.integrations.sync import repository as repo
from tickettoken.integrations.sync import service
from tickettoken.integrations.sync.pushers import square_products
from tickettoken.kit.auth import Principal, Role
from tickettoken.kit.db import Database
from tickettoken.kit.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


async def start_sync(
    db: Database, token_for: Callable[..., str], venue: uuid.UUID, per_item: int
) -> str:
    """A products sync of ``per_item`` records per work item, started as the route does."""
    del token_for
    principal = Principal(sub="admin", role=Role.VENUE_ADMIN, venue_ids=frozenset({str(venue)}))
    async with db.transaction() as session:
        started = await service.start(
            session,
            principal,
            "square",
            venue,
            "products",
            "to_provider",
            records_per_item=per_item,
        )
    return str(started.sync_id)


async def item_statuses(db: Database, sync_id: str) -> dict[str, int]:
    async with db.transaction() as session:
        return await repo.item_counts(session, uuid.UUID(sync_id))


async def test_a_worker_killed_mid_sync_is_resumed_without_duplicates(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    integration_settings: Settings,
    sandbox: Sandbox,
    database_url: str,
    redis_url: str,
    run_worker: RunWorker,
) -> None:
    from tests.integrations.helpers import provider_settings

    made = await seed_venue(db, events=12, ticket_types=1)
    venue = made["venue"]
    await connect(client, admin(token_for, venue), venue, "square")
    sync_id = await start_sync(db, token_for, venue, per_item=1)
    values = {"database_url": database_url, "redis_url": redis_url, **provider_settings(sandbox)}
    # Square slowed down (429s and their retries) so the kill lands mid-sync.
    sandbox.control("/square/_sandbox/rate-limit", {"per_second": 4})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).with_name("sync_worker_process.py")),
        json.dumps(values),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while (await item_statuses(db, sync_id)).get("completed", 0) < 3:
            assert process.returncode is None, "the worker process ended"
            assert asyncio.get_running_loop().time() < deadline, await item_statuses(db, sync_id)
            await asyncio.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(process.wait(), 10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        sandbox.control("/square/_sandbox/rate-limit", {"per_second": 1000})
    killed_at = await item_statuses(db, sync_id)
    assert 3 <= killed_at.get("completed", 0) < 12, killed_at
    assert (await sync_log(db, sync_id))["status"] == "started"
    # The dead worker's lease on its item lapses (shortened here instead of waiting a minute).
    async with db.transaction() as session:
        await session.execute(
            text(
                "UPDATE sync_queue SET lease_expires_at = now() - interval '1 second'"
                " WHERE sync_id = :s AND status = 'processing'"
            ),
            {"s": uuid.UUID(sync_id)},
        )
    log = await run_worker(sync_id, within=40)
    assert (log["status"], log["success_count"], log["error_count"]) == ("completed", 12, 0)
    items = await square_items(integration_settings, db, venue)
    assert len(items) == 12  # no duplicate at Square
    assert (await item_statuses(db, sync_id)) == {"completed": 12}


async def test_a_lost_answer_is_replayed_not_duplicated(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    integration_settings: Settings,
    calls: list[CallRecord],
    run_worker: RunWorker,
) -> None:
    """A worker that pushed a batch and died before recording it: the next one sends the same
    body with the same idempotency key, and Square answers with the objects it created then."""
    made = await seed_venue(db, events=3, ticket_types=2)
    venue = made["venue"]
    await connect(client, admin(token_for, venue), venue, "square")
    sync_id = await start_sync(db, token_for, venue, per_item=3)
    # Expanded by the job's own code, then one item claimed and pushed by a "dead" worker.
    from tickettoken.integrations.sync.engine import _expand

    async with db.transaction() as session:
        log = await repo.get_log(session, uuid.UUID(sync_id))
    assert log is not None
    await _expand(db, log, dict(log["details"] or {}))
    async with db.transaction() as session:
        item = await repo.claim_item(session, uuid.UUID(sync_id), "dead-worker", 60)
    assert item is not None
    clients = ProviderClients(integration_settings)
    try:
        credentials = await access_credentials(db, venue, "square", clients=clients)
        pushed = await square_products(
            await clients.get("square"), credentials, venue, item["payload"]["records"], {}
        )
    finally:
        await clients.aclose()
    assert len(pushed.saved) == 3
    assert len(await square_items(integration_settings, db, venue)) == 3
    async with db.transaction() as session:
        await session.execute(
            text(
                "UPDATE sync_queue SET lease_expires_at = now() - interval '1 second'"
                " WHERE id = :id"
            ),
            {"id": item["id"]},
        )
    log = await run_worker(sync_id)
    assert (log["status"], log["success_count"]) == ("completed", 3)
    assert writes(calls, "square") == ["catalog.batch_upsert"]  # the replay
    items = await square_items(integration_settings, db, venue)
    assert sorted(i.id for i in items) == sorted(r["remote_id"] for r in pushed.saved)


async def test_stop_ends_the_sync_with_its_counts_and_retry_sends_the_rest(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    integration_settings: Settings,
    calls: list[CallRecord],
    run_worker: RunWorker,
) -> None:
    made = await seed_venue(db, events=4, ticket_types=1)
    venue = made["venue"]
    headers = admin(token_for, venue)
    await connect(client, headers, venue, "square")
    sync_id = await start_sync(db, token_for, venue, per_item=1)
    from tickettoken.integrations.sync.engine import _expand

    async with db.transaction() as session:
        log = await repo.get_log(session, uuid.UUID(sync_id))
    assert log is not None
    await _expand(db, log, dict(log["details"] or {}))
    # Another worker holds one item (its lease is live) and the admin stops the sync.
    async with db.transaction() as session:
        held = await repo.claim_item(session, uuid.UUID(sync_id), "other-worker", 60)
    assert held is not None
    nothing = await client.post(
        f"{BASE}/sync/square/sync/retry", json={"venueId": str(venue)}, headers=headers
    )
    assert nothing.status_code == 409  # still running
    stopped = await client.post(
        f"{BASE}/sync/square/sync/stop", json={"venueId": str(venue)}, headers=headers
    )
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["data"]["stop_requested"] is True
    log = await run_worker(sync_id)
    assert (log["status"], log["success_count"], log["error_count"]) == ("failed", 0, 3)
    assert writes(calls, "square") == []
    assert len(await square_items(integration_settings, db, venue)) == 0

    retried = await client.post(
        f"{BASE}/sync/square/sync/retry", json={"venueId": str(venue)}, headers=headers
    )
    assert retried.status_code == 202, retried.text
    log = await run_worker(retried.json()["data"]["sync_id"])
    assert (log["status"], log["success_count"]) == ("completed", 4)
    assert len(await square_items(integration_settings, db, venue)) == 4
    again = await client.post(
        f"{BASE}/sync/square/sync/retry", json={"venueId": str(venue)}, headers=headers
    )
    assert again.status_code == 409  # the last sync completed


async def test_a_sync_job_that_fails_for_good_still_ends_its_log(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    integration_settings: Settings,
) -> None:
    """The queue's OnFailed callback (declared in the service table) ends the log ``failed``
    when the job itself fails past its attempts (here a handler that crashes)."""
    from tickettoken.kit.jobs import JobContext, OnFailed, PermanentJobError
    from tickettoken.queue.engine import JobRegistry
    from tickettoken.services import SERVICES

    made = await seed_venue(db, events=1)
    venue = made["venue"]
    await connect(client, admin(token_for, venue), venue, "square")
    sync_id = await start_sync(db, token_for, venue, per_item=1)

    async def crash(ctx: JobContext) -> dict[str, Any]:
        if ctx.payload.get("sync_id") != sync_id:
            raise RuntimeError("another test's sync job")
        raise PermanentJobError("the handler crashed")

    declared = [d for d in SERVICES["integration"].parts().jobs if isinstance(d, OnFailed)]
    registry = JobRegistry().declare(declared)
    registry.register("sync", crash)
    async with communication_worker(
        db, integration_settings, concurrency=1, poll_interval=0.1, registry=registry
    ):
        for _ in range(100):
            if (await sync_log(db, sync_id))["status"] == "failed":
                break
            await asyncio.sleep(0.1)
    log = await sync_log(db, sync_id)
    assert log["status"] == "failed" and log["completed_at"] is not None
    assert "the handler crashed" in str(log["errors"])
