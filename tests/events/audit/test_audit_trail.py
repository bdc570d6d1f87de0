"""Every create, update and delete of venues, ticket types, pricing rules and capacity leaves an
audit record with who, what, before, after, request id; a refused write leaves none."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.events.conftest import expect

Json = dict[str, Any]


async def audit_of(db: AsyncEngine, entity_id: str) -> list[dict[str, Any]]:
    async with db.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT action, entity_type, actor_id, before, after, request_id, host(ip) AS ip"
                " FROM audit_log"
                " WHERE entity_id = :id ORDER BY created_at, action"
            ),
            {"id": entity_id},
        )
        return [dict(r) for r in rows.mappings()]


async def test_catalogue_writes_are_audited_with_request_ids(
    client: httpx.AsyncClient,
    headers_for: Callable[..., dict[str, str]],
    new_event: Callable[..., Awaitable[Json]],
    db: AsyncEngine,
) -> None:
    admin = headers_for("admin", sub="auditor-1")
    venue = expect(
        await client.post("/api/v1/venues", json={"name": "Audit", "capacity": 50}, headers=admin),
        201,
    )["data"]
    expect(
        await client.put(
            f"/api/v1/venues/{venue['id']}",
            json={"capacity": 60},
            headers={**admin, "X-Request-ID": "req-venue-1"},
        ),
        200,
    )
    venue_audit = await audit_of(db, venue["id"])
    assert [(r["action"], r["entity_type"]) for r in venue_audit] == [
        ("create", "venue"),
        ("update", "venue"),
    ]
    assert venue_audit[1]["before"]["capacity"] == 50 and venue_audit[1]["after"]["capacity"] == 60
    assert (
        venue_audit[1]["request_id"] == "req-venue-1" and venue_audit[1]["actor_id"] == "auditor-1"
    )

    event = await new_event(venue, capacity=40)
    path = f"/api/v1/events/{event['id']}"
    ticket_type = expect(
        await client.post(
            f"{path}/ticket-types", json={"name": "A", "price": "5", "quantity": 10}, headers=admin
        ),
        201,
    )["data"]
    expect(
        await client.put(
            f"{path}/ticket-types/{ticket_type['id']}", json={"quantity": 12}, headers=admin
        ),
        200,
    )
    rule = expect(
        await client.post(
            f"{path}/pricing-rules",
            json={
                "ticket_type_id": ticket_type["id"],
                "rule_type": "group",
                "conditions": {"min_quantity": 2},
                "adjustment": {"type": "fixed", "value": "-1"},
            },
            headers=admin,
        ),
        201,
    )["data"]
    expect(await client.delete(f"{path}/pricing-rules/{rule['id']}", headers=admin), 200)
    expect(await client.put(f"{path}/capacity", json={"capacity": 30}, headers=admin), 200)
    refused = await client.put(f"{path}/capacity", json={"capacity": 5}, headers=admin)
    assert refused.status_code == 409

    assert [r["action"] for r in await audit_of(db, ticket_type["id"])] == ["create", "update"]
    rule_audit = await audit_of(db, rule["id"])
    assert [r["action"] for r in rule_audit] == ["create", "delete"]
    assert rule_audit[1]["after"] is None and rule_audit[1]["before"]["rule_type"] == "group"
    event_audit = await audit_of(db, event["id"])
    assert [r["action"] for r in event_audit] == ["create", "update"]
    assert event_audit[1]["after"]["capacity"] == 30
