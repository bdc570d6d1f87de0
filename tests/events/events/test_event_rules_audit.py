"""Rules a spec audit found broken (issue 7): each test is the audit's finding, over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.events.conftest import expect
from tests.events.events.started_events import move_start_into_the_past
from tests.events.events.test_event_cancellation import _customer, _order

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


async def test_cancelling_counts_the_tickets_it_changed_and_notifies_only_their_holders(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    db: AsyncEngine,
    published_event: Callable[..., Awaitable[tuple[Json, Json]]],
) -> None:
    event, ticket_type = await published_event()
    users = {name: f"user-{name}-{uuid.uuid4().hex[:8]}" for name in ("paid", "refunded", "void")}
    async with db.begin() as conn:
        customers = {name: await _customer(conn, event["venue_id"], u) for name, u in users.items()}
        await _order(conn, event, ticket_type["id"], customers["paid"], "paid", 7)
        refunded = await _order(conn, event, ticket_type["id"], customers["refunded"], "paid", 2)
        void = await _order(conn, event, ticket_type["id"], customers["void"], "paid", 1)
        await conn.execute(
            sa.text("UPDATE orders SET status = 'refunded', refunded_amount = total WHERE id = :o"),
            {"o": refunded},
        )
        await conn.execute(
            sa.text("UPDATE tickets SET status = 'refunded' WHERE order_id = :o"), {"o": refunded}
        )
        await conn.execute(
            sa.text("UPDATE orders SET status = 'cancelled', cancelled_at = now() WHERE id = :o"),
            {"o": void},
        )
        await conn.execute(
            sa.text("UPDATE tickets SET status = 'invalidated' WHERE order_id = :o"), {"o": void}
        )
        await conn.execute(
            sa.text("UPDATE ticket_types SET sold = 7 WHERE id = :id"), {"id": ticket_type["id"]}
        )
    path = f"/api/v1/events/{event['id']}/cancel"
    result = expect(await client.post(path, json={"reason": "Flooded hall"}, headers=admin), 200)
    assert result["data"]["refunds_queued"] == 1
    assert result["data"]["tickets_invalidated"] == 7
    assert result["data"]["holders_notified"] == 1
    async with db.connect() as conn:
        notified = (
            (
                await conn.execute(
                    sa.text(
                        "SELECT user_id FROM notifications WHERE user_id = ANY(:users)"
                        " AND type = 'event_cancelled'"
                    ),
                    {"users": list(users.values())},
                )
            )
            .scalars()
            .all()
        )
        emails = await conn.scalar(
            sa.text(
                "SELECT count(*) FROM jobs_communication WHERE type = 'send-email'"
                " AND payload->>'message_id' LIKE :prefix"
            ),
            {"prefix": f"event-cancelled:{event['id']}:%"},
        )
    assert notified == [users["paid"]]
    assert emails == 1
