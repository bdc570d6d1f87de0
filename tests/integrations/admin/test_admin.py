"""Admin routes over HTTP: role admin only (venue admins 403), clear-queue refuses without a
filter and deletes nothing, dead letters and stale items back to pending with values the
sync_queue CHECK allows, force-sync queues a ``sync`` job, the summaries count what is there."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.integrations.health.support import (
    BASE,
    connect_stripe,
    engine_for,
    fetch,
    integration_app,
)
from tests.integrations.helpers import SANDBOX_KEY
from tests.support import auth_header

from tickettoken.kit.settings import Settings

ADMIN = f"{BASE}/admin"


@pytest.fixture
async def http(integration_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with integration_app(integration_settings) as (_, client):
        yield client


@pytest.fixture
async def engine(integration_settings: Settings) -> AsyncIterator[AsyncEngine]:
    async with engine_for(integration_settings) as built:
        yield built


async def _queue(
    engine: AsyncEngine, venue: uuid.UUID, provider: str, status: str, **extra: Any
) -> None:
    columns = {"attempts": 0, "max_attempts": 10, "started_minutes_ago": None, **extra}
    async with engine.begin() as conn:
        await conn.exec_driver_sql(
            "INSERT INTO sync_queue (venue_id, integration_type, operation_type, entity_type,"
            " payload, status, attempts, max_attempts, started_at) VALUES ($1, $2, 'sync',"
            " 'product', '{}', $3, $4, $5,"
            " CASE WHEN $6::int IS NULL THEN NULL ELSE now() - make_interval(mins => $6::int) END)",
            (
                venue,
                provider,
                status,
                columns["attempts"],
                columns["max_attempts"],
                columns["started_minutes_ago"],
            ),
        )


async def _statuses(engine: AsyncEngine, venue: uuid.UUID) -> list[str]:
    rows = await fetch(
        engine,
        "SELECT status FROM sync_queue WHERE venue_id = :venue ORDER BY status",
        venue=venue,
    )
    return [row.status for row in rows]


async def test_only_admins(http: httpx.AsyncClient, token_for: Callable[..., str]) -> None:
    venue = uuid.uuid4()
    for role in ("venue_admin", "venue_staff", "customer", "monitoring", "service"):
        headers = auth_header(token_for(role, venue_ids=[str(venue)]))
        for method, path, body in (
            ("GET", "/all-venues", None),
            ("GET", "/health-summary", None),
            ("GET", "/costs", None),
            ("GET", "/queue-metrics", None),
            ("POST", "/force-sync", {"venue_id": str(venue), "provider": "stripe"}),
            ("POST", "/clear-queue", {"venue_id": str(venue)}),
            ("POST", "/process-dead-letter", {}),
            ("POST", "/recover-stale", {}),
        ):
            answer = await http.request(method, f"{ADMIN}{path}", json=body, headers=headers)
            assert answer.status_code == 403, (role, path, answer.text)
            assert answer.json()["code"] == "FORBIDDEN"
    assert (await http.get(f"{ADMIN}/queue-metrics")).status_code == 401


async def test_clear_queue_needs_a_filter(
    http: httpx.AsyncClient, engine: AsyncEngine, token_for: Callable[..., str]
) -> None:
    admin = auth_header(token_for("admin"))
    venue, other = uuid.uuid4(), uuid.uuid4()
    for status in ("pending", "failed", "dead_letter"):
        await _queue(engine, venue, "stripe", status)
    await _queue(engine, venue, "square", "pending")
    await _queue(engine, other, "stripe", "pending")
    total_before = (await fetch(engine, "SELECT count(*) AS n FROM sync_queue"))[0].n

    for body in ({}, None, {"venue_id": None}, {"status": "unknown"}, {"everything": True}):
        refused = await http.post(f"{ADMIN}/clear-queue", json=body, headers=admin)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.json()["code"] == "VALIDATION_ERROR"
    assert (await fetch(engine, "SELECT count(*) AS n FROM sync_queue"))[0].n == total_before

    cleared = await http.post(
        f"{ADMIN}/clear-queue",
        json={"venueId": str(venue), "provider": "stripe", "status": "failed"},
        headers=admin,
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["data"]["deleted"] == 1
    assert await _statuses(engine, venue) == ["dead_letter", "pending", "pending"]
    by_venue = await http.post(f"{ADMIN}/clear-queue", json={"venue_id": str(venue)}, headers=admin)
    assert by_venue.json()["data"] == {"deleted": 3, "filters": {"venue_id": str(venue)}}
    assert await _statuses(engine, other) == ["pending"]


async def test_dead_letters_and_stale_items_return_to_pending(
    http: httpx.AsyncClient, engine: AsyncEngine, token_for: Callable[..., str]
) -> None:
    admin = auth_header(token_for("admin"))
    venue, other = uuid.uuid4(), uuid.uuid4()
    await _queue(engine, venue, "stripe", "dead_letter", attempts=10)
    await _queue(engine, venue, "square", "dead_letter", attempts=10)
    await _queue(engine, other, "stripe", "dead_letter", attempts=10)
    requeued = await http.post(
        f"{ADMIN}/process-dead-letter",
        json={"venue_id": str(venue), "provider": "stripe"},
        headers=admin,
    )
    assert requeued.status_code == 200, requeued.text
    assert requeued.json()["data"] == {"requeued": 1}
    rows = await fetch(
        engine,
        "SELECT integration_type, status, attempts FROM sync_queue WHERE venue_id = :venue"
        " ORDER BY integration_type",
        venue=venue,
    )
    assert [(r.integration_type, r.status, r.attempts) for r in rows] == [
        ("square", "dead_letter", 10),
        ("stripe", "pending", 0),
    ]
    assert await _statuses(engine, other) == ["dead_letter"]

    stale_venue = uuid.uuid4()
    await _queue(engine, stale_venue, "stripe", "processing", started_minutes_ago=60)
    await _queue(engine, stale_venue, "stripe", "processing", started_minutes_ago=60, attempts=10)
    await _queue(engine, stale_venue, "stripe", "processing", started_minutes_ago=2)
    recovered = await http.post(
        f"{ADMIN}/recover-stale",
        json={"olderThanMinutes": 30, "venue_id": str(stale_venue)},
        headers=admin,
    )
    assert recovered.status_code == 200, recovered.text
    assert recovered.json()["data"] == {"recovered": 1, "dead_lettered": 1}
    assert await _statuses(engine, stale_venue) == ["dead_letter", "pending", "processing"]
    bad = await http.post(f"{ADMIN}/recover-stale", json={"older_than_minutes": 0}, headers=admin)
    assert bad.status_code == 422

    metrics = await http.get(f"{ADMIN}/queue-metrics", headers=admin)
    assert metrics.status_code == 200, metrics.text
    data = metrics.json()["data"]
    assert data["total"] == sum(data["by_status"].values()) >= 6
    assert set(data["by_status"]) <= {"pending", "processing", "completed", "failed", "dead_letter"}


async def test_force_sync_and_summaries(
    http: httpx.AsyncClient,
    engine: AsyncEngine,
    integration_settings: Settings,
    token_for: Callable[..., str],
) -> None:
    admin = auth_header(token_for("admin"))
    venue = uuid.uuid4()
    body = {"venue_id": str(venue), "provider": "stripe", "sync_type": "customers"}
    assert (await http.post(f"{ADMIN}/force-sync", json=body, headers=admin)).status_code == 404
    await connect_stripe(engine, integration_settings, venue)

    key = {"Idempotency-Key": f"force-{venue}"}
    forced = await http.post(f"{ADMIN}/force-sync", json=body, headers={**admin, **key})
    assert forced.status_code == 202, forced.text
    job = forced.json()["data"]
    assert job["queue"] == "communication" and job["provider"] == "stripe"
    again = await http.post(f"{ADMIN}/force-sync", json=body, headers={**admin, **key})
    assert again.status_code == 202 and again.json()["data"]["job_id"] == job["job_id"]
    [stored] = await fetch(
        engine,
        "SELECT type, payload, venue_id FROM jobs_communication WHERE job_uuid = :id",
        id=uuid.UUID(job["job_id"]),
    )
    assert stored.type == "sync" and stored.venue_id == venue
    assert stored.payload["sync_type"] == "customers" and stored.payload["forced"] is True
    wrong = await http.post(
        f"{ADMIN}/force-sync", json={**body, "sync_type": "everything"}, headers=admin
    )
    assert wrong.status_code == 422

    tested = await http.post(
        f"{BASE}/health/stripe/test", json={"venue_id": str(venue)}, headers=admin
    )
    assert tested.status_code == 200, tested.text
    summary = (await http.get(f"{ADMIN}/health-summary", headers=admin)).json()["data"]
    stripe = next(p for p in summary["by_provider"] if p["provider"] == "stripe")
    assert stripe["connected"] >= 1 and stripe["healthy"] >= 1
    assert summary["total"] >= summary["connected"] >= summary["healthy"]

    pages = await http.get(f"{ADMIN}/all-venues", params={"limit": 100}, headers=admin)
    assert pages.status_code == 200, pages.text
    listing = pages.json()
    assert listing["pagination"]["total"] >= 1
    seen = {v["venue_id"]: v for v in listing["data"]}
    page = 1
    while str(venue) not in seen and page < listing["pagination"]["total_pages"]:
        page += 1
        more = await http.get(
            f"{ADMIN}/all-venues", params={"limit": 100, "page": page}, headers=admin
        )
        seen.update({v["venue_id"]: v for v in more.json()["data"]})
    [connection] = seen[str(venue)]["integrations"]
    assert connection["status"] == "connected" and connection["health_status"] == "healthy"
    assert SANDBOX_KEY not in pages.text and SANDBOX_KEY not in forced.text
