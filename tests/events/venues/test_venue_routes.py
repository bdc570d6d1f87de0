"""Venue routes: creation by admins only, venue scoping (404 for another venue), validation."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

Json = dict[str, Any]


async def test_admin_creates_and_reads_a_venue(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = {"name": "The Hall", "capacity": 300, "timezone": "Europe/Paris", "metadata": {"a": 1}}
    created = await client.post("/api/v1/venues", json=body, headers=admin)
    assert created.status_code == 201, created.text
    venue = created.json()["data"]
    assert venue["timezone"] == "Europe/Paris" and venue["metadata"] == {"a": 1}
    assert {"id", "created_at", "updated_at"} <= venue.keys()
    fetched = await client.get(f"/api/v1/venues/{venue['id']}", headers=admin)
    assert fetched.json()["data"] == venue


async def test_every_venue_route_needs_a_token(client: httpx.AsyncClient) -> None:
    some = uuid.uuid4()
    for method, path in [
        ("POST", "/api/v1/venues"),
        ("GET", "/api/v1/venues"),
        ("GET", f"/api/v1/venues/{some}"),
        ("PUT", f"/api/v1/venues/{some}"),
        ("GET", f"/api/v1/venues/{some}/events"),
        ("GET", f"/api/v1/venues/{some}/dashboard"),
        ("GET", f"/api/v1/venues/{some}/analytics?start_date=2026-01-01&end_date=2026-12-31"),
    ]:
        response = await client.request(method, path, json={} if method != "GET" else None)
        assert response.status_code == 401, (method, path)
        assert response.json()["code"] == "UNAUTHORIZED"


async def test_only_admins_create_venues(
    client: httpx.AsyncClient, headers_for: Callable[..., dict[str, str]]
) -> None:
    body = {"name": "Mine", "capacity": 10}
    for role in ("venue_admin", "venue_staff", "customer"):
        response = await client.post("/api/v1/venues", json=body, headers=headers_for(role))
        assert response.status_code == 403, role


async def test_another_venues_staff_get_404_everywhere(
    client: httpx.AsyncClient,
    headers_for: Callable[..., dict[str, str]],
    new_venue: Callable[..., Awaitable[Json]],
) -> None:
    venue, other = await new_venue(), await new_venue()
    stranger = headers_for("venue_admin", venue_ids=[other["id"]])
    base = f"/api/v1/venues/{venue['id']}"
    for method, path, body in [
        ("GET", base, None),
        ("PUT", base, {"name": "Taken over"}),
        ("GET", f"{base}/events", None),
        ("GET", f"{base}/dashboard", None),
        ("GET", f"{base}/analytics?start_date=2026-01-01&end_date=2026-12-31", None),
    ]:
        response = await client.request(method, path, json=body, headers=stranger)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["code"] == "NOT_FOUND"
    listed = await client.get("/api/v1/venues?limit=100", headers=stranger)
    assert [v["id"] for v in listed.json()["data"]] == [other["id"]]


async def test_venue_admin_updates_own_venue_and_staff_may_not(
    client: httpx.AsyncClient,
    headers_for: Callable[..., dict[str, str]],
    new_venue: Callable[..., Awaitable[Json]],
) -> None:
    venue = await new_venue()
    owner = headers_for("venue_admin", venue_ids=[venue["id"]])
    staff = headers_for("venue_staff", venue_ids=[venue["id"]])
    updated = await client.put(
        f"/api/v1/venues/{venue['id']}", json={"city": "Shelbyville"}, headers=owner
    )
    assert updated.status_code == 200 and updated.json()["data"]["city"] == "Shelbyville"
    refused = await client.put(f"/api/v1/venues/{venue['id']}", json={"city": "X"}, headers=staff)
    assert refused.status_code == 403
    assert (await client.get(f"/api/v1/venues/{venue['id']}", headers=staff)).status_code == 200


async def test_invalid_venue_input_is_422_in_the_envelope(
    client: httpx.AsyncClient, admin: dict[str, str], new_venue: Callable[..., Awaitable[Json]]
) -> None:
    venue = await new_venue()
    for method, path, body in [
        ("POST", "/api/v1/venues", {"name": "", "capacity": 0}),
        ("POST", "/api/v1/venues", {"name": "x", "capacity": 5, "timezone": "Mars/Base"}),
        ("POST", "/api/v1/venues", {"name": "x", "capacity": 5, "unknown": 1}),
        ("PUT", f"/api/v1/venues/{venue['id']}", {"capacity": -3}),
        ("PUT", f"/api/v1/venues/{venue['id']}", {"name": None}),
        ("GET", "/api/v1/venues/not-a-uuid", None),
        ("GET", f"/api/v1/venues/{venue['id']}/analytics?start_date=2026-02-01", None),
        (
            "GET",
            f"/api/v1/venues/{venue['id']}/analytics?start_date=2026-02-01&end_date=2026-01-01",
            None,
        ),
    ]:
        response = await client.request(method, path, json=body, headers=admin)
        assert response.status_code == 422, (method, path, response.text)
        payload = response.json()
        assert payload["success"] is False and payload["code"] == "VALIDATION_ERROR"
        assert payload["request_id"]


async def test_venue_capacity_cannot_drop_below_an_active_event(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    new_venue: Callable[..., Awaitable[Json]],
    new_event: Callable[..., Awaitable[Json]],
) -> None:
    venue = await new_venue(capacity=1000)
    await new_event(venue, capacity=800)
    response = await client.put(
        f"/api/v1/venues/{venue['id']}", json={"capacity": 700}, headers=admin
    )
    assert response.status_code == 409
