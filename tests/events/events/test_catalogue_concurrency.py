"""Concurrent catalogue writes, as real concurrent requests: ticket type quantities never exceed
the event's capacity, and a cancel racing reservations leaves no hold behind."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.events.conftest import expect

Json = dict[str, Any]


async def test_concurrent_ticket_types_never_exceed_capacity(
    client: httpx.AsyncClient, admin: dict[str, str], new_event: Callable[..., Awaitable[Json]]
) -> None:
    event = await new_event(capacity=100)
    path = f"/api/v1/events/{event['id']}/ticket-types"
    responses = await asyncio.gather(
        *(
            client.post(
                path, json={"name": f"Batch {i}", "price": "5.00", "quantity": 30}, headers=admin
            )
            for i in range(8)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 3 + [409] * 5, [r.text for r in responses]
    listed = expect(await client.get(path, headers=admin), 200)["data"]
    assert sum(t["quantity"] for t in listed) == 90


async def test_cancel_racing_reservations_leaves_no_hold(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    headers_for: Callable[..., dict[str, str]],
    published_event: Callable[..., Awaitable[tuple[Json, Json]]],
    db: AsyncEngine,
) -> None:
    event, ticket_type = await published_event()
    path = f"/api/v1/events/{event['id']}"

    async def reserve() -> httpx.Response:
        return await client.post(
            f"{path}/reservations",
            json={
                "ticket_type_id": ticket_type["id"],
                "quantity": 1,
                "customer": {"email": f"{uuid.uuid4().hex[:8]}@example.com"},
            },
            headers=headers_for("customer", sub=f"racer-{uuid.uuid4().hex[:8]}"),
        )

    results = await asyncio.gather(
        *(reserve() for _ in range(6)),
        client.post(f"{path}/cancel", json={"reason": "Race"}, headers=admin),
        *(reserve() for _ in range(6)),
    )
    reservations = results[:6] + results[7:]
    assert all(r.status_code in (201, 409) for r in reservations), [r.text for r in reservations]
    assert results[6].status_code == 200, results[6].text
    async with db.connect() as conn:
        held = await conn.scalar(
            sa.text("SELECT count(*) FROM reservations WHERE event_id = :e AND status = 'held'"),
            {"e": event["id"]},
        )
        reserved = await conn.scalar(
            sa.text("SELECT reserved FROM ticket_types WHERE id = :id"), {"id": ticket_type["id"]}
        )
    assert held == 0 and reserved == 0
    capacity = expect(await client.get(f"{path}/capacity", headers=admin), 200)["data"]
    assert capacity["reserved"] == 0
