"""GET /events: filters, text search, pagination, visibility of drafts; auth on every route."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
from tests.events.conftest import future, unique

Json = dict[str, Any]


async def test_filters_combine_and_paginate(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    new_venue: Callable[..., Awaitable[Json]],
    new_event: Callable[..., Awaitable[Json]],
    new_ticket_type: Callable[..., Awaitable[Json]],
) -> None:
    venue = await new_venue()
    word = "zebra" + uuid.uuid4().hex[:6]
    start = future(days=50)
    cheap = await new_event(
        venue,
        name=f"{word} cheap",
        category="sports",
        start_date=start.isoformat(),
        end_date=(start + timedelta(hours=2)).isoformat(),
    )
    dear = await new_event(
        venue, name=unique("Gala"), description=f"with {word} inside", category="theater"
    )
    await new_ticket_type(cheap, price="10.00")
    await new_ticket_type(dear, price="250.00")
    base = f"/api/v1/events?venue_id={venue['id']}"

    async def ids(query: str) -> list[str]:
        response = await client.get(base + query, headers=admin)
        assert response.status_code == 200, response.text
        return [e["id"] for e in response.json()["data"]]

    assert set(await ids("")) == {cheap["id"], dear["id"]}
    assert await ids("&category=sports") == [cheap["id"]]
    assert await ids("&status=draft&category=theater") == [dear["id"]]
    assert await ids("&min_price=100") == [dear["id"]]
    assert await ids("&max_price=20") == [cheap["id"]]
    assert await ids("&min_price=11&max_price=249") == []
    assert set(await ids(f"&q={word}")) == {cheap["id"], dear["id"]}
    assert await ids(f"&start_date={start.date().isoformat()}") == [cheap["id"]]
    assert await ids(f"&end_date={(start.date() - timedelta(days=1)).isoformat()}") == [dear["id"]]
    assert len(await ids("&start_date=0001-01-01&end_date=9999-12-31")) == 2
    page = await client.get(base + "&limit=1&page=2", headers=admin)
    assert page.json()["pagination"] == {"page": 2, "limit": 1, "total": 2, "total_pages": 2}
    assert len(page.json()["data"]) == 1


async def test_drafts_are_visible_only_to_their_venue(
    client: httpx.AsyncClient,
    headers_for: Callable[..., dict[str, str]],
    new_venue: Callable[..., Awaitable[Json]],
    new_event: Callable[..., Awaitable[Json]],
    published_event: Callable[..., Awaitable[tuple[Json, Json]]],
) -> None:
    venue = await new_venue()
    draft = await new_event(venue)
    live, _ = await published_event(venue=venue)
    customer = headers_for("customer")
    stranger = headers_for("venue_admin", venue_ids=[str(uuid.uuid4())])
    owner_staff = headers_for("venue_staff", venue_ids=[venue["id"]])
    for headers, expected in [
        (customer, {live["id"]}),
        (stranger, {live["id"]}),
        (owner_staff, {draft["id"], live["id"]}),
    ]:
        listed = await client.get(f"/api/v1/events?venue_id={venue['id']}", headers=headers)
        assert {e["id"] for e in listed.json()["data"]} == expected
    assert (await client.get(f"/api/v1/events/{draft['id']}", headers=customer)).status_code == 404
    assert (await client.get(f"/api/v1/events/{live['id']}", headers=customer)).status_code == 200


async def test_every_event_route_needs_a_token(client: httpx.AsyncClient) -> None:
    event = f"/api/v1/events/{uuid.uuid4()}"
    for method, path in [
        ("GET", "/api/v1/events"),
        ("POST", "/api/v1/events"),
        ("GET", event),
        ("PUT", event),
        ("DELETE", event),
        ("POST", f"{event}/publish"),
        ("POST", f"{event}/cancel"),
        ("GET", f"{event}/analytics"),
        ("GET", f"{event}/capacity"),
        ("PUT", f"{event}/capacity"),
        ("GET", f"{event}/ticket-types"),
        ("POST", f"{event}/ticket-types"),
        ("PUT", f"{event}/ticket-types/{uuid.uuid4()}"),
        ("GET", f"{event}/pricing-rules"),
        ("POST", f"{event}/pricing-rules"),
        ("PUT", f"{event}/pricing-rules/{uuid.uuid4()}"),
        ("DELETE", f"{event}/pricing-rules/{uuid.uuid4()}"),
        ("GET", f"{event}/pricing"),
    ]:
        body = {} if method in ("POST", "PUT") else None
        response = await client.request(method, path, json=body)
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["code"] == "UNAUTHORIZED"


async def test_another_venues_admin_gets_404_on_every_event_route(
    client: httpx.AsyncClient,
    headers_for: Callable[..., dict[str, str]],
    new_event: Callable[..., Awaitable[Json]],
    new_ticket_type: Callable[..., Awaitable[Json]],
) -> None:
    event = await new_event()
    ticket_type = await new_ticket_type(event)
    stranger = headers_for("venue_admin", venue_ids=[str(uuid.uuid4())])
    path = f"/api/v1/events/{event['id']}"
    start = future(days=20)
    for method, url, body in [
        ("GET", path, None),
        ("PUT", path, {"name": "Mine now"}),
        ("DELETE", path, None),
        ("POST", f"{path}/publish", None),
        ("POST", f"{path}/cancel", {"reason": "because"}),
        ("GET", f"{path}/analytics", None),
        ("GET", f"{path}/capacity", None),
        ("PUT", f"{path}/capacity", {"capacity": 10}),
        ("GET", f"{path}/ticket-types", None),
        ("POST", f"{path}/ticket-types", {"name": "X", "price": "1.00", "quantity": 1}),
        ("PUT", f"{path}/ticket-types/{ticket_type['id']}", {"description": "x"}),
        ("GET", f"{path}/pricing-rules", None),
        (
            "POST",
            f"{path}/pricing-rules",
            {
                "ticket_type_id": ticket_type["id"],
                "rule_type": "group",
                "conditions": {"min_quantity": 2},
                "adjustment": {"type": "fixed", "value": "-1.00"},
            },
        ),
        ("GET", f"{path}/pricing", None),
        (
            "POST",
            "/api/v1/events",
            {
                "venue_id": event["venue_id"],
                "name": "Intruder",
                "start_date": start.isoformat(),
                "end_date": (start + timedelta(hours=1)).isoformat(),
                "capacity": 10,
            },
        ),
    ]:
        response = await client.request(method, url, json=body, headers=stranger)
        assert response.status_code == 404, (method, url, response.text)


async def test_invalid_event_input_is_422_in_the_envelope(
    client: httpx.AsyncClient, admin: dict[str, str], new_event: Callable[..., Awaitable[Json]]
) -> None:
    event = await new_event()
    path = f"/api/v1/events/{event['id']}"
    for method, url, body in [
        ("GET", "/api/v1/events?status=SHOUTING", None),
        ("GET", "/api/v1/events?min_price=-1", None),
        ("GET", "/api/v1/events?min_price=10&max_price=5", None),
        ("GET", "/api/v1/events?limit=1000", None),
        ("GET", "/api/v1/events/123", None),
        ("POST", "/api/v1/events", {"name": "missing everything"}),
        ("PUT", path, {"capacity": 0}),
        ("PUT", path, {"status": "archived"}),
        ("POST", f"{path}/cancel", {"reason": ""}),
        ("POST", f"{path}/cancel", {"reason": "storm", "refund_policy": "partial"}),
        ("PUT", f"{path}/capacity", {"capacity": "many"}),
    ]:
        response = await client.request(method, url, json=body, headers=admin)
        assert response.status_code == 422, (method, url, response.text)
        assert response.json()["code"] == "VALIDATION_ERROR"
