"""Fixtures of the event service tests: a running app (with and without Redis), tokens and
factories that create venues, events and ticket types through the API.

Apps are session-scoped (one lifespan each) to keep the suite fast; every test creates its own
rows (random names), so tests never depend on each other.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from tests.support import make_settings, running_app

from tickettoken.events.app import create_app
from tickettoken.kit.auth import mint_token
from tickettoken.kit.settings import Settings

Json = dict[str, Any]


@pytest.fixture(scope="session")
def event_settings(database_url: str, redis_url: str) -> Settings:
    return make_settings(database_url=database_url, redis_url=redis_url)


@pytest.fixture(scope="session")
def event_settings_without_redis(database_url: str) -> Settings:
    return make_settings(database_url=database_url)


@pytest.fixture(scope="session")
async def client(event_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The event service with Redis."""
    async with running_app(create_app(event_settings)) as http:
        yield http


@pytest.fixture(scope="session")
async def client_without_redis(
    event_settings_without_redis: Settings,
) -> AsyncIterator[httpx.AsyncClient]:
    """The event service with its in-process cache."""
    async with running_app(create_app(event_settings_without_redis)) as http:
        yield http


@pytest.fixture(scope="session")
def headers_for(event_settings: Settings) -> Callable[..., dict[str, str]]:
    """``headers_for("venue_admin", venue_ids=[...])`` -> Authorization header of a fresh token."""

    def make(role: str, **claims: Any) -> dict[str, str]:
        token = mint_token(role=role, settings=event_settings, **claims)
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture(scope="session")
def admin(headers_for: Callable[..., dict[str, str]]) -> dict[str, str]:
    return headers_for("admin", sub="admin-" + uuid.uuid4().hex[:8])


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:10]}"


def future(hours: float = 0, days: float = 0) -> datetime:
    return datetime.now(UTC) + timedelta(hours=hours, days=days)


def expect(response: httpx.Response, status: int) -> Json:
    assert response.status_code == status, response.text
    body: Json = response.json()
    return body


@pytest.fixture(scope="session")
def new_venue(client: httpx.AsyncClient, admin: dict[str, str]) -> Callable[..., Awaitable[Json]]:
    async def create(**overrides: Any) -> Json:
        body = {"name": unique("Venue"), "capacity": 1000, "city": "Springfield", **overrides}
        return expect(await client.post("/api/v1/venues", json=body, headers=admin), 201)["data"]

    return create


@pytest.fixture(scope="session")
def new_event(
    client: httpx.AsyncClient, admin: dict[str, str], new_venue: Callable[..., Awaitable[Json]]
) -> Callable[..., Awaitable[Json]]:
    async def create(venue: Json | None = None, **overrides: Any) -> Json:
        venue = venue or await new_venue()
        start = future(days=30)
        body = {
            "venue_id": venue["id"],
            "name": unique("Event"),
            "category": "concert",
            "start_date": start.isoformat(),
            "end_date": (start + timedelta(hours=3)).isoformat(),
            "capacity": 500,
            **overrides,
        }
        return expect(await client.post("/api/v1/events", json=body, headers=admin), 201)["data"]

    return create


@pytest.fixture(scope="session")
def new_ticket_type(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> Callable[..., Awaitable[Json]]:
    async def create(event: Json, **overrides: Any) -> Json:
        body = {"name": unique("GA"), "price": "50.00", "quantity": 100, **overrides}
        response = await client.post(
            f"/api/v1/events/{event['id']}/ticket-types", json=body, headers=admin
        )
        return expect(response, 201)["data"]

    return create


@pytest.fixture(scope="session")
def published_event(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    new_event: Callable[..., Awaitable[Json]],
    new_ticket_type: Callable[..., Awaitable[Json]],
) -> Callable[..., Awaitable[tuple[Json, Json]]]:
    """An event with one ticket type, published: ``(event, ticket_type)``."""

    async def create(**event_overrides: Any) -> tuple[Json, Json]:
        event = await new_event(**event_overrides)
        ticket_type = await new_ticket_type(event)
        response = await client.post(f"/api/v1/events/{event['id']}/publish", headers=admin)
        return expect(response, 200)["data"], ticket_type

    return create


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A direct engine on the test database, to check what the API wrote."""
    engine = create_async_engine(database_url, pool_size=2)
    yield engine
    await engine.dispose()
