"""Pricing rules CRUD and GET /pricing, computed from real counts through the API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.events.conftest import future

Json = dict[str, Any]


def rule(
    ticket_type: Json, rule_type: str, conditions: Json, kind: str, value: str, **kw: Any
) -> Json:
    return {
        "ticket_type_id": ticket_type["id"],
        "rule_type": rule_type,
        "conditions": conditions,
        "adjustment": {"type": kind, "value": value},
        **kw,
    }


async def prices(
    client: httpx.AsyncClient, headers: dict[str, str], event: Json, q: int = 1
) -> Json:
    response = await client.get(
        f"/api/v1/events/{event['id']}/pricing?quantity={q}", headers=headers
    )
    assert response.status_code == 200, response.text
    return {t["ticket_type_id"]: t for t in response.json()["data"]["ticket_types"]}


async def test_all_three_rule_types_apply_in_priority_order(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    new_event: Callable[..., Awaitable[Json]],
    new_ticket_type: Callable[..., Awaitable[Json]],
    db: AsyncEngine,
) -> None:
    event = await new_event()  # starts in 30 days
    ticket_type = await new_ticket_type(event, price="100.00", quantity=100)
    path = f"/api/v1/events/{event['id']}/pricing-rules"
    for body in [
        rule(ticket_type, "time_based", {"days_before": 20}, "percentage", "-20", priority=1),
        rule(ticket_type, "demand_based", {"percentage_sold": 50}, "fixed", "15.00", priority=2),
        rule(ticket_type, "group", {"min_quantity": 4}, "percentage", "-10", priority=3),
    ]:
        assert (await client.post(path, json=body, headers=admin)).status_code == 201
    quote = (await prices(client, admin, event))[ticket_type["id"]]
    assert quote["base_price"] == "100.00" and quote["current_price"] == "80.00"
    assert quote["difference"] == "-20.00" and quote["percent_change"] == "-20.00"

    async with db.begin() as conn:
        await conn.execute(
            sa.text("UPDATE ticket_types SET sold = 50 WHERE id = :id"), {"id": ticket_type["id"]}
        )
    # Direct SQL bypasses the API's cache invalidation: read a quantity not cached yet.
    group = (await prices(client, admin, event, q=4))[ticket_type["id"]]
    assert group["current_price"] == "85.50"  # 100 -20% = 80, +15 = 95, -10% = 85.50
    assert [r["rule_type"] for r in group["applied_rules"]] == [
        "time_based",
        "demand_based",
        "group",
    ]
    assert group["total"] == "342.00"


async def test_a_price_never_goes_below_zero(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    new_event: Callable[..., Awaitable[Json]],
    new_ticket_type: Callable[..., Awaitable[Json]],
) -> None:
    event = await new_event()
    ticket_type = await new_ticket_type(event, price="10.00")
    body = rule(ticket_type, "group", {"min_quantity": 1}, "fixed", "-25.00")
    path = f"/api/v1/events/{event['id']}/pricing-rules"
    assert (await client.post(path, json=body, headers=admin)).status_code == 201
    assert (await prices(client, admin, event))[ticket_type["id"]]["current_price"] == "0.00"


async def test_rules_crud_with_audit_and_scoping(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    headers_for: Callable[..., dict[str, str]],
    new_event: Callable[..., Awaitable[Json]],
    new_ticket_type: Callable[..., Awaitable[Json]],
) -> None:
    event = await new_event()
    ticket_type = await new_ticket_type(event)
    path = f"/api/v1/events/{event['id']}/pricing-rules"
    created = await client.post(
        path, json=rule(ticket_type, "group", {"min_quantity": 3}, "fixed", "-5"), headers=admin
    )
    assert created.status_code == 201
    rule_id = created.json()["data"]["id"]
    assert created.json()["data"]["adjustment"] == {"type": "fixed", "value": "-5.00"}
    updated = await client.put(
        f"{path}/{rule_id}", json={"priority": 7, "active": False}, headers=admin
    )
    assert updated.json()["data"]["priority"] == 7 and updated.json()["data"]["active"] is False
    staff = headers_for("venue_staff", venue_ids=[event["venue_id"]])
    assert [r["id"] for r in (await client.get(path, headers=staff)).json()["data"]] == [rule_id]
    assert (await client.delete(f"{path}/{rule_id}", headers=staff)).status_code == 403
    assert (await client.get(path, headers=headers_for("customer"))).status_code == 403
    assert (await client.delete(f"{path}/{rule_id}", headers=admin)).status_code == 200
    assert (await client.delete(f"{path}/{rule_id}", headers=admin)).status_code == 404
    other = await new_event()
    assert (
        await client.put(
            f"/api/v1/events/{other['id']}/pricing-rules/{rule_id}",
            json={"priority": 1},
            headers=admin,
        )
    ).status_code == 404


async def test_rules_that_could_never_apply_are_refused(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    new_event: Callable[..., Awaitable[Json]],
    new_ticket_type: Callable[..., Awaitable[Json]],
) -> None:
    event = await new_event()
    ticket_type = await new_ticket_type(event)
    path = f"/api/v1/events/{event['id']}/pricing-rules"
    created = await client.post(
        path, json=rule(ticket_type, "group", {"min_quantity": 2}, "fixed", "1"), headers=admin
    )
    rule_id = created.json()["data"]["id"]
    for method, url, body in [
        ("POST", path, rule(ticket_type, "group", {"percentage_sold": 5}, "fixed", "1")),
        ("POST", path, rule(ticket_type, "time_based", {}, "fixed", "1")),
        ("POST", path, rule(ticket_type, "demand_based", {"percentage_sold": 101}, "fixed", "1")),
        ("POST", path, rule(ticket_type, "group", {"min_quantity": 2}, "percentage", "-150")),
        ("POST", path, rule(ticket_type, "surge", {}, "fixed", "1")),
        (
            "POST",
            path,
            rule(
                ticket_type,
                "time_based",
                {"start": future(days=2).isoformat(), "end": future(days=1).isoformat()},
                "fixed",
                "1",
            ),
        ),
        ("PUT", f"{path}/{rule_id}", {"rule_type": "demand_based"}),
        ("PUT", f"{path}/{rule_id}", {"priority": None}),
        ("GET", f"/api/v1/events/{event['id']}/pricing?quantity=0", None),
    ]:
        response = await client.request(method, url, json=body, headers=admin)
        assert response.status_code == 422, (method, body, response.text)
        assert response.json()["code"] == "VALIDATION_ERROR"
