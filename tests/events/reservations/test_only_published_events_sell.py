"""Only published events sell (SPEC 4.2): an event an admin set ``sold_out`` by ``PUT`` sells
nothing on any path (general, idempotent, token-only batches), until it is published again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.events.conftest import expect

from tickettoken.events.reservations.sweeper import sweep_expired_holds
from tickettoken.kit.db import Database
from tickettoken.kit.kv import MemoryStore

Json = dict[str, Any]


async def _reserved(db: AsyncEngine, ticket_type_id: str) -> tuple[int, int]:
    async with db.connect() as connection:
        row = (
            await connection.execute(
                sa.text("SELECT reserved, sold FROM ticket_types WHERE id = :id"),
                {"id": ticket_type_id},
            )
        ).one()
    return int(row.reserved), int(row.sold)


async def test_an_event_set_sold_out_by_put_sells_on_no_path(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    headers_for: Callable[..., dict[str, str]],
    db: AsyncEngine,
    published_event: Callable[..., Awaitable[tuple[Json, Json]]],
) -> None:
    event, ticket_type = await published_event()
    path = f"/api/v1/events/{event['id']}"
    stopped = expect(await client.put(path, json={"status": "sold_out"}, headers=admin), 200)
    assert stopped["data"]["status"] == "sold_out"
    url = f"{path}/reservations"
    with_customer = {
        "ticket_type_id": ticket_type["id"],
        "quantity": 1,
        "customer": {"email": f"{uuid.uuid4().hex[:10]}@example.com", "first_name": "Ada"},
    }
    token_only = {"ticket_type_id": ticket_type["id"], "quantity": 1}
    customers = [headers_for("customer", sub=f"buyer-{uuid.uuid4().hex}") for _ in range(6)]
    idempotent = {**customers[0], "Idempotency-Key": uuid.uuid4().hex}
    answers = await asyncio.gather(
        client.post(url, json=with_customer, headers=admin),
        client.post(url, json=token_only, headers=idempotent),
        *(client.post(url, json=token_only, headers=headers) for headers in customers),
    )
    assert [answer.status_code for answer in answers] == [409] * len(answers), [
        answer.text for answer in answers
    ]
    assert await _reserved(db, ticket_type["id"]) == (0, 0)

    expect(await client.put(path, json={"status": "published"}, headers=admin), 200)
    sold = await client.post(url, json=token_only, headers=customers[1])
    assert sold.status_code == 201, sold.text


async def test_a_sale_stopped_by_put_stays_stopped_when_holds_expire(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    headers_for: Callable[..., dict[str, str]],
    db: AsyncEngine,
    database_url: str,
    published_event: Callable[..., Awaitable[tuple[Json, Json]]],
) -> None:
    """Tickets coming back re-open an event the last sale marked sold out, never one a person
    stopped."""
    event, ticket_type = await published_event()
    path = f"/api/v1/events/{event['id']}"
    body = {"ticket_type_id": ticket_type["id"], "quantity": 1}
    buyer = headers_for("customer", sub=f"buyer-{uuid.uuid4().hex}")
    held = expect(await client.post(f"{path}/reservations", json=body, headers=buyer), 201)
    expect(await client.put(path, json={"status": "sold_out"}, headers=admin), 200)
    async with db.begin() as connection:
        await connection.execute(
            sa.text(
                "UPDATE reservations SET expires_at = now() - interval '1 minute' WHERE id = :id"
            ),
            {"id": held["data"]["id"]},
        )
    database = Database(database_url, pool_min=1, pool_max=2)
    try:
        assert await sweep_expired_holds(database, MemoryStore()) == 1
    finally:
        await database.dispose()
    assert expect(await client.get(path, headers=admin), 200)["data"]["status"] == "sold_out"
    refused = await client.post(f"{path}/reservations", json=body, headers=buyer)
    assert refused.status_code == 409, refused.text
