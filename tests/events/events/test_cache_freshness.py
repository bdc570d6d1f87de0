"""A write through the API followed by a read never returns stale cached data: event page,
event lists, capacity and prices, with Redis and with the in-process cache."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.events.conftest import expect, future

Json = dict[str, Any]


@pytest.fixture(params=["redis", "in-process"])
def api(request: pytest.FixtureRequest) -> httpx.AsyncClient:
    name = "client" if request.param == "redis" else "client_without_redis"
    http: httpx.AsyncClient = request.getfixturevalue(name)
    return http


async def make_event(api: httpx.AsyncClient, admin: dict[str, str], **overrides: Any) -> Json:
    venue = expect(
        await api.post(
            "/api/v1/venues",
            json={"name": f"Cache venue {uuid.uuid4().hex[:8]}", "capacity": 1000},
            headers=admin,
        ),
        201,
    )["data"]
    start = future(days=40)
    body = {
        "venue_id": venue["id"],
        "name": f"Cached {uuid.uuid4().hex[:8]}",
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(hours=2)).isoformat(),
        "capacity": 300,
        **overrides,
    }
    return expect(await api.post("/api/v1/events", json=body, headers=admin), 201)["data"]


async def add_type(api: httpx.AsyncClient, admin: dict[str, str], event: Json, **kw: Any) -> Json:
    body = {"name": f"T {uuid.uuid4().hex[:6]}", "price": "40.00", "quantity": 100, **kw}
    response = await api.post(
        f"/api/v1/events/{event['id']}/ticket-types", json=body, headers=admin
    )
    return expect(response, 201)["data"]


async def test_event_page_is_fresh_after_update_publish_and_delete(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    event = await make_event(api, admin)
    path = f"/api/v1/events/{event['id']}"
    for _ in range(2):
        assert expect(await api.get(path, headers=admin), 200)["data"]["name"] == event["name"]
    expect(await api.put(path, json={"name": "Fresh name"}, headers=admin), 200)
    assert expect(await api.get(path, headers=admin), 200)["data"]["name"] == "Fresh name"
    await add_type(api, admin, event)
    expect(await api.post(f"{path}/publish", headers=admin), 200)
    assert expect(await api.get(path, headers=admin), 200)["data"]["status"] == "published"
    expect(await api.put(path, json={"status": "postponed"}, headers=admin), 200)
    assert expect(await api.get(path, headers=admin), 200)["data"]["status"] == "postponed"


async def test_deleted_event_disappears_from_page_and_list(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    event = await make_event(api, admin)
    path = f"/api/v1/events/{event['id']}"
    listing = f"/api/v1/events?venue_id={event['venue_id']}"
    expect(await api.get(path, headers=admin), 200)
    assert len(expect(await api.get(listing, headers=admin), 200)["data"]) == 1
    expect(await api.delete(path, headers=admin), 200)
    assert (await api.get(path, headers=admin)).status_code == 404
    assert expect(await api.get(listing, headers=admin), 200)["data"] == []


async def test_event_list_is_fresh_after_create_and_update(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    event = await make_event(api, admin, category="sports")
    listing = f"/api/v1/events?venue_id={event['venue_id']}&category=sports"
    venue_listing = f"/api/v1/venues/{event['venue_id']}/events"
    assert len(expect(await api.get(listing, headers=admin), 200)["data"]) == 1
    assert len(expect(await api.get(venue_listing, headers=admin), 200)["data"]) == 1
    start = future(days=41)
    second = {
        "venue_id": event["venue_id"],
        "name": "Second",
        "category": "sports",
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(hours=1)).isoformat(),
        "capacity": 10,
    }
    expect(await api.post("/api/v1/events", json=second, headers=admin), 201)
    assert len(expect(await api.get(listing, headers=admin), 200)["data"]) == 2
    assert len(expect(await api.get(venue_listing, headers=admin), 200)["data"]) == 2
    expect(
        await api.put(f"/api/v1/events/{event['id']}", json={"category": "comedy"}, headers=admin),
        200,
    )
    assert len(expect(await api.get(listing, headers=admin), 200)["data"]) == 1


async def test_price_filter_sees_new_ticket_types_and_price_changes(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    event = await make_event(api, admin)
    listing = f"/api/v1/events?venue_id={event['venue_id']}&min_price=100"
    assert expect(await api.get(listing, headers=admin), 200)["data"] == []
    ticket_type = await add_type(api, admin, event, price="50.00")
    assert expect(await api.get(listing, headers=admin), 200)["data"] == []
    expect(
        await api.put(
            f"/api/v1/events/{event['id']}/ticket-types/{ticket_type['id']}",
            json={"price": "150.00"},
            headers=admin,
        ),
        200,
    )
    assert len(expect(await api.get(listing, headers=admin), 200)["data"]) == 1


async def test_capacity_is_fresh_after_capacity_change(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    event = await make_event(api, admin)
    path = f"/api/v1/events/{event['id']}/capacity"
    assert expect(await api.get(path, headers=admin), 200)["data"]["total"] == 300
    expect(await api.put(path, json={"capacity": 280}, headers=admin), 200)
    assert expect(await api.get(path, headers=admin), 200)["data"] == {
        "total": 280,
        "sold": 0,
        "reserved": 0,
        "available": 280,
    }
    expect(
        await api.put(f"/api/v1/events/{event['id']}", json={"capacity": 260}, headers=admin), 200
    )
    assert expect(await api.get(path, headers=admin), 200)["data"]["total"] == 260


async def test_prices_are_fresh_after_rule_and_ticket_type_writes(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    event = await make_event(api, admin)
    ticket_type = await add_type(api, admin, event, price="40.00")
    pricing = f"/api/v1/events/{event['id']}/pricing"

    async def current() -> str:
        quotes = expect(await api.get(pricing, headers=admin), 200)["data"]["ticket_types"]
        price: str = quotes[0]["current_price"]
        return price

    assert await current() == "40.00"
    rules = f"/api/v1/events/{event['id']}/pricing-rules"
    created = await api.post(
        rules,
        json={
            "ticket_type_id": ticket_type["id"],
            "rule_type": "time_based",
            "conditions": {"days_before": 10},
            "adjustment": {"type": "percentage", "value": "-25"},
        },
        headers=admin,
    )
    rule_id = expect(created, 201)["data"]["id"]
    assert await current() == "30.00"
    expect(
        await api.put(
            f"/api/v1/events/{event['id']}/ticket-types/{ticket_type['id']}",
            json={"price": "80.00"},
            headers=admin,
        ),
        200,
    )
    assert await current() == "60.00"
    expect(await api.put(f"{rules}/{rule_id}", json={"active": False}, headers=admin), 200)
    assert await current() == "80.00"
    expect(await api.put(f"{rules}/{rule_id}", json={"active": True}, headers=admin), 200)
    assert await current() == "60.00"
    expect(await api.delete(f"{rules}/{rule_id}", headers=admin), 200)
    assert await current() == "80.00"


async def test_capacity_and_event_page_are_fresh_after_a_reservation(
    api: httpx.AsyncClient, admin: dict[str, str], headers_for: Callable[..., dict[str, str]]
) -> None:
    event = await make_event(api, admin, capacity=10)
    ticket_type = await add_type(api, admin, event, quantity=4)
    path = f"/api/v1/events/{event['id']}"
    expect(await api.post(f"{path}/publish", headers=admin), 200)
    assert expect(await api.get(f"{path}/capacity", headers=admin), 200)["data"]["reserved"] == 0
    assert expect(await api.get(path, headers=admin), 200)["data"]["status"] == "published"
    customer = headers_for("customer", sub=f"fresh-{uuid.uuid4().hex[:8]}")
    reservation = await api.post(
        f"{path}/reservations",
        json={
            "ticket_type_id": ticket_type["id"],
            "quantity": 4,
            "customer": {"email": f"{uuid.uuid4().hex[:8]}@example.com"},
        },
        headers=customer,
    )
    expect(reservation, 201)
    capacity = expect(await api.get(f"{path}/capacity", headers=admin), 200)["data"]
    assert capacity == {"total": 10, "sold": 0, "reserved": 4, "available": 6}
    assert expect(await api.get(path, headers=admin), 200)["data"]["status"] == "sold_out"


async def test_counts_changed_outside_the_api_reach_the_cache(
    api: httpx.AsyncClient, admin: dict[str, str], db: AsyncEngine
) -> None:
    """A worker applying a payment (sold up) or expiring holds (reserved down) writes no cache:
    the database's NOTIFY makes every instance drop the event's capacity and prices."""
    event = await make_event(api, admin)
    ticket_type = await add_type(api, admin, event, quantity=10)
    path = f"/api/v1/events/{event['id']}/capacity"
    assert expect(await api.get(path, headers=admin), 200)["data"]["sold"] == 0
    async with db.begin() as conn:
        await conn.execute(
            sa.text("UPDATE ticket_types SET sold = 4 WHERE id = :id"), {"id": ticket_type["id"]}
        )
    for _ in range(50):
        if expect(await api.get(path, headers=admin), 200)["data"]["sold"] == 4:
            break
        await asyncio.sleep(0.05)
    assert expect(await api.get(path, headers=admin), 200)["data"] == {
        "total": 300,
        "sold": 4,
        "reserved": 0,
        "available": 296,
    }
