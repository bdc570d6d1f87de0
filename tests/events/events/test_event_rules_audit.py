"""Rules a spec audit found broken (issue 7): each test is the audit's finding, over HTTP."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.events.conftest import expect
from tests.events.events.started_events import move_start_into_the_past

Json = dict[str, Any]


async def test_an_event_cannot_be_completed_before_it_starts(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    published_event: Callable[..., Awaitable[tuple[Json, Json]]],
) -> None:
    event, _ = await published_event()
    path = f"/api/v1/events/{event['id']}"
    refused = await client.put(path, json={"status": "completed"}, headers=admin)
    assert refused.status_code == 409, refused.text
    assert "started" in refused.json()["error"]
    assert expect(await client.get(path, headers=admin), 200)["data"]["status"] == "published"
    # so it can still be cancelled, and its refunds happen
    cancelled = await client.post(f"{path}/cancel", json={"reason": "Rain"}, headers=admin)
    assert cancelled.status_code == 200, cancelled.text


async def test_an_event_is_completed_once_it_has_started(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    db: AsyncEngine,
    published_event: Callable[..., Awaitable[tuple[Json, Json]]],
) -> None:
    event, _ = await published_event()
    await move_start_into_the_past(db, event["id"])
    path = f"/api/v1/events/{event['id']}"
    done = expect(await client.put(path, json={"status": "completed"}, headers=admin), 200)
    assert done["data"]["status"] == "completed"
    late = await client.post(f"{path}/cancel", json={"reason": "Too late"}, headers=admin)
    assert late.status_code == 409, late.text
