"""Attack run, limits: request bodies and free-form fields have a size (issue 7, item 7).

A 100 MB JSON body used to be read whole (RSS +110 MB, kept) and a 5 MB event ``metadata`` was
stored. Every service refuses a body over ``MAX_REQUEST_BODY_BYTES`` (1 MB by default) with 413
in the envelope, without reading it whole, whether it declares its length or is chunked; and
``metadata`` and ``description`` have bounds of their own.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from tests.support import auth_header, make_settings, running_app

from tickettoken.events.app import create_app as create_event_app
from tickettoken.gateway.app import create_app as create_gateway_app
from tickettoken.integrations.app import create_app as create_integration_app
from tickettoken.kit.settings import Settings
from tickettoken.queue.app import create_app as create_queue_app

MB = 1024 * 1024
CHUNK = 64 * 1024


class CountingBody:
    """A request body produced in chunks, counting how much of it the server pulled."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunk = b'{"name": "' + b"x" * (CHUNK - 10)
        while self.pulled < self.total:
            self.pulled += len(chunk)
            yield chunk


def assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text[:500]
    body = response.json()
    assert body["success"] is False and body["code"] == "PAYLOAD_TOO_LARGE"
    assert body["request_id"] == response.headers["x-request-id"]


# Each service with a route that reads a JSON body, where it has one in this branch (a route
# that never reads its body leaves a chunked body unread: nothing to refuse there).
SERVICES: dict[str, tuple[Callable[[Settings], FastAPI], str | None]] = {
    "event": (create_event_app, "/api/v1/events"),
    "queue": (create_queue_app, "/api/v1/queue/jobs"),
    "integration": (create_integration_app, None),
    "gateway": (create_gateway_app, None),
}


@pytest.mark.parametrize("service", SERVICES)
async def test_a_100_mb_body_is_refused_before_it_is_read(
    service: str, settings: Settings, token_for: Callable[..., str]
) -> None:
    factory, path = SERVICES[service]
    headers = auth_header(token_for("admin")) | {"content-type": "application/json"}
    async with running_app(factory(settings)) as client:
        declared = CountingBody(100 * MB)
        response = await client.post(
            path or "/api/v1/anything",
            content=declared,
            headers=headers | {"content-length": str(100 * MB)},
        )
        assert_too_large(response)
        assert declared.pulled <= CHUNK  # refused on the declared length, nothing read
        if path is None:
            return

        chunked = CountingBody(100 * MB)
        response = await client.post(path, content=chunked, headers=headers)
        assert "content-length" not in response.request.headers
        assert_too_large(response)
        assert chunked.pulled <= MB + CHUNK  # read up to the limit, not further


async def test_the_limit_is_configurable_and_bodies_under_it_pass(
    database_url: str, redis_url: str, token_for: Callable[..., str]
) -> None:
    settings = make_settings(
        database_url=database_url, redis_url=redis_url, max_request_body_bytes=2_000
    )
    headers = auth_header(token_for("admin"))
    async with running_app(create_event_app(settings)) as client:
        small = await client.post("/api/v1/venues", json={"name": "x" * 500}, headers=headers)
        assert small.status_code == 422  # reached validation (capacity missing)
        big = await client.post("/api/v1/venues", json={"name": "x" * 3_000}, headers=headers)
        assert_too_large(big)


@pytest.fixture
async def events_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_event_app(settings)) as client:
        yield client


def huge_metadata() -> dict[str, Any]:
    """Well under the body limit, far over any sensible metadata."""
    return {"blob": "x" * 200_000}


def assert_field_refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text[:500]
    fields = {detail["field"] for detail in response.json()["details"]}
    assert any(field in name for name in fields), fields


async def test_metadata_and_descriptions_have_size_bounds(
    events_client: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    admin = auth_header(token_for("admin"))
    venue_body = {"name": f"Hall {uuid.uuid4().hex[:8]}", "capacity": 1000}
    refused = await events_client.post(
        "/api/v1/venues", json=venue_body | {"metadata": huge_metadata()}, headers=admin
    )
    assert_field_refused(refused, "metadata")
    venue = await events_client.post("/api/v1/venues", json=venue_body, headers=admin)
    assert venue.status_code == 201, venue.text
    venue_id = venue.json()["data"]["id"]
    refused = await events_client.put(
        f"/api/v1/venues/{venue_id}", json={"metadata": huge_metadata()}, headers=admin
    )
    assert_field_refused(refused, "metadata")

    start = datetime.now(UTC) + timedelta(days=10)
    event_body = {
        "venue_id": venue_id,
        "name": f"Show {uuid.uuid4().hex[:8]}",
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(hours=2)).isoformat(),
        "capacity": 100,
    }
    for extra, field in (
        ({"metadata": huge_metadata()}, "metadata"),
        ({"metadata": {"k": ["y" * 1000] * 100}}, "metadata"),
        ({"description": "d" * 20_000}, "description"),
    ):
        refused = await events_client.post("/api/v1/events", json=event_body | extra, headers=admin)
        assert_field_refused(refused, field)
    event = await events_client.post(
        "/api/v1/events",
        json=event_body | {"metadata": {"genre": "jazz", "tags": ["a", "b"]}},
        headers=admin,
    )
    assert event.status_code == 201, event.text
    event_id = event.json()["data"]["id"]

    ticket_body = {"name": "GA", "price": "10.00", "quantity": 10}
    refused = await events_client.post(
        f"/api/v1/events/{event_id}/ticket-types",
        json=ticket_body | {"metadata": huge_metadata()},
        headers=admin,
    )
    assert_field_refused(refused, "metadata")
    stored = await events_client.post(
        f"/api/v1/events/{event_id}/ticket-types",
        json=ticket_body | {"metadata": {"section": "A", "rows": list(range(30))}},
        headers=admin,
    )
    assert stored.status_code == 201, stored.text
    assert len(json.dumps(stored.json()["data"]["metadata"])) < 1000


async def test_notification_data_has_the_metadata_bound(
    events_client: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    body = {"user_id": "someone", "type": "info", "title": "Hi", "message": "Hello"}
    admin = auth_header(token_for("admin"))
    refused = await events_client.post(
        "/api/v1/notifications", json=body | {"data": huge_metadata()}, headers=admin
    )
    assert_field_refused(refused, "data")
    stored = await events_client.post(
        "/api/v1/notifications", json=body | {"data": {"order": "o-1"}}, headers=admin
    )
    assert stored.status_code == 201, stored.text
