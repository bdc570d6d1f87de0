"""Ticket types: fields, capacity bound, the after-first-sale rule, scoping and validation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.events.conftest import future

Json = dict[str, Any]


async def test_ticket_type_has_every_field_and_defaults(
    client: httpx.AsyncClient, admin: dict[str, str], new_event: Callable[..., Awaitable[Json]]
) -> None:
    event = await new_event()
    body = {
        "name": "VIP",
        "description": "Front rows",
        "price": "120.5",
        "quantity": 40,
        "sale_start": future(days=1).isoformat(),
        "sale_end": future(days=20).isoformat(),
        "metadata": {"section": "A", "rows": [1, 2]},
    }
    created = await client.post(
        f"/api/v1/events/{event['id']}/ticket-types", json=body, headers=admin
    )
    assert created.status_code == 201, created.text
    ticket_type = created.json()["data"]
    assert ticket_type["price"] == "120.50" and ticket_type["currency"] == "USD"
    assert ticket_type["max_per_order"] == 6
    assert (ticket_type["sold"], ticket_type["reserved"], ticket_type["available"]) == (0, 0, 40)
    assert ticket_type["metadata"] == {"section": "A", "rows": [1, 2]}
    listed = await client.get(f"/api/v1/events/{event['id']}/ticket-types", headers=admin)
    assert listed.json()["data"] == [ticket_type]


async def test_quantities_never_exceed_the_event_capacity(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    new_event: Callable[..., Awaitable[Json]],
    new_ticket_type: Callable[..., Awaitable[Json]],
) -> None:
    event = await new_event(capacity=100)
    first = await new_ticket_type(event, quantity=60)
    path = f"/api/v1/events/{event['id']}/ticket-types"
    too_many = await client.post(
        path, json={"name": "More", "price": "1.00", "quantity": 41}, headers=admin
    )
    assert too_many.status_code == 409
    grow = await client.put(f"{path}/{first['id']}", json={"quantity": 101}, headers=admin)
    assert grow.status_code == 409
    duplicate = await client.post(
        path, json={"name": first["name"].upper(), "price": "1.00", "quantity": 1}, headers=admin
    )
    assert duplicate.status_code == 409


async def test_after_the_first_sale_only_description_sale_end_and_metadata_change(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    new_event: Callable[..., Awaitable[Json]],
    new_ticket_type: Callable[..., Awaitable[Json]],
    db: AsyncEngine,
) -> None:
    event = await new_event()
    ticket_type = await new_ticket_type(event, quantity=50)
    path = f"/api/v1/events/{event['id']}/ticket-types/{ticket_type['id']}"
    assert (await client.put(path, json={"price": "55.00"}, headers=admin)).status_code == 200
    async with db.begin() as conn:
        await conn.execute(
            sa.text("UPDATE ticket_types SET sold = 1 WHERE id = :id"), {"id": ticket_type["id"]}
        )
    for change in ({"price": "60.00"}, {"quantity": 60}, {"name": "Renamed"}, {"max_per_order": 2}):
        response = await client.put(path, json=change, headers=admin)
        assert response.status_code == 409, change
    allowed = {
        "description": "Now with a view",
        "sale_end": future(days=25).isoformat(),
        "metadata": {"section": "B"},
    }
    updated = await client.put(path, json=allowed, headers=admin)
    assert updated.status_code == 200, updated.text
    assert updated.json()["data"]["description"] == "Now with a view"
    assert updated.json()["data"]["price"] == "55.00"


async def test_ticket_type_writes_need_the_venue_admin(
    client: httpx.AsyncClient,
    headers_for: Callable[..., dict[str, str]],
    new_event: Callable[..., Awaitable[Json]],
) -> None:
    event = await new_event()
    path = f"/api/v1/events/{event['id']}/ticket-types"
    body = {"name": "GA", "price": "5.00", "quantity": 5}
    staff = headers_for("venue_staff", venue_ids=[event["venue_id"]])
    owner = headers_for("venue_admin", venue_ids=[event["venue_id"]])
    assert (await client.post(path, json=body, headers=staff)).status_code == 403
    assert (await client.post(path, json=body, headers=headers_for("customer"))).status_code == 403
    assert (await client.post(path, json=body, headers=owner)).status_code == 201
    assert (await client.get(path, headers=staff)).status_code == 200


async def test_invalid_ticket_type_input_is_422(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    new_event: Callable[..., Awaitable[Json]],
    new_ticket_type: Callable[..., Awaitable[Json]],
) -> None:
    event = await new_event()
    ticket_type = await new_ticket_type(event)
    path = f"/api/v1/events/{event['id']}/ticket-types"
    for method, url, body in [
        ("POST", path, {"name": "A", "price": "-1", "quantity": 1}),
        ("POST", path, {"name": "A", "price": "1.234", "quantity": 1}),
        ("POST", path, {"name": "A", "price": "1", "quantity": 1, "max_per_order": 11}),
        ("POST", path, {"name": "A", "price": "1", "quantity": 1, "currency": "usd"}),
        (
            "POST",
            path,
            {
                "name": "A",
                "price": "1",
                "quantity": 1,
                "sale_start": future(days=3).isoformat(),
                "sale_end": future(days=2).isoformat(),
            },
        ),
        (
            "PUT",
            f"{path}/{ticket_type['id']}",
            {"sale_end": future(days=-400).isoformat(), "sale_start": future(days=1).isoformat()},
        ),
        ("PUT", f"{path}/{ticket_type['id']}", {"price": None}),
        ("PUT", f"{path}/not-a-uuid", {"description": "x"}),
    ]:
        response = await client.request(method, url, json=body, headers=admin)
        assert response.status_code == 422, (method, url, body, response.text)
        assert response.json()["code"] == "VALIDATION_ERROR"
