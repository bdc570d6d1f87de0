"""The venue dashboard's upcoming events: its count and its list are the same events (issue 7):
announced (published, sold out or postponed), not deleted, starting in the future. Drafts are not
announced, cancelled and completed events are not coming."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.events.conftest import expect, future
from tests.events.events.started_events import move_start_into_the_past

Json = dict[str, Any]


async def test_dashboard_counts_and_lists_the_same_upcoming_events(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    db: AsyncEngine,
    new_venue: Callable[..., Awaitable[Json]],
    new_event: Callable[..., Awaitable[Json]],
    new_ticket_type: Callable[..., Awaitable[Json]],
) -> None:
    venue = await new_venue()

    async def published(days: float) -> Json:
        event = await new_event(
            venue,
            start_date=future(days=days).isoformat(),
            end_date=future(days=days, hours=3).isoformat(),
        )
        await new_ticket_type(event)
        return expect(
            await client.post(f"/api/v1/events/{event['id']}/publish", headers=admin), 200
        )["data"]

    on_sale = await published(3)
    stopped = await published(4)
    expect(
        await client.put(
            f"/api/v1/events/{stopped['id']}", json={"status": "sold_out"}, headers=admin
        ),
        200,
    )
    postponed = await published(5)
    expect(
        await client.put(
            f"/api/v1/events/{postponed['id']}", json={"status": "postponed"}, headers=admin
        ),
        200,
    )
    cancelled = await published(6)
    expect(
        await client.post(
            f"/api/v1/events/{cancelled['id']}/cancel", json={"reason": "Gone"}, headers=admin
        ),
        200,
    )
    started = await published(7)
    await move_start_into_the_past(db, started["id"])
    await new_event(
        venue, start_date=future(days=1).isoformat(), end_date=future(days=1, hours=2).isoformat()
    )  # a draft

    staff = {"Authorization": admin["Authorization"]}
    dashboard = expect(
        await client.get(f"/api/v1/venues/{venue['id']}/dashboard", headers=staff), 200
    )["data"]
    listed = [event["id"] for event in dashboard["upcoming_events"]]
    assert listed == [on_sale["id"], stopped["id"], postponed["id"]]
    assert dashboard["totals"]["upcoming_events"] == len(listed) == 3
    assert dashboard["totals"]["events"] == 6
