"""Aggregation (issue 11, Deliver 7): required parts in parallel, optional parts within the
budget, each with its own status, against real upstream servers that fail or hang."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests.gateway.gateway_upstream import free_port, serving_app
from tests.support import auth_header, make_settings, running_app

from tickettoken.gateway.app import create_app
from tickettoken.kit.auth import mint_token

VENUE = str(uuid.uuid4())


def catalogue(faults: dict[str, Any]) -> Starlette:
    """Event and venue routes shaped like the event service's, with faults on demand."""

    async def event(request: Request) -> JSONResponse:
        if faults.get("event") == 404:
            return JSONResponse({"success": False, "code": "NOT_FOUND"}, 404)
        event_id = request.path_params["event_id"]
        return JSONResponse({"success": True, "data": {"id": event_id, "venue_id": VENUE}})

    async def ticket_types(request: Request) -> JSONResponse:
        if faults.get("ticket_types") == 500:
            return JSONResponse({"success": False}, 500)
        return JSONResponse({"success": True, "data": [{"name": "GA", "available": 40}]})

    async def pricing(_: Request) -> JSONResponse:
        return JSONResponse({"success": True, "data": [{"name": "GA", "current": 2500}]})

    async def venue(request: Request) -> JSONResponse:
        return JSONResponse({"success": True, "data": {"id": request.path_params["venue_id"]}})

    return Starlette(
        routes=[
            Route("/api/v1/events/{event_id}", event),
            Route("/api/v1/events/{event_id}/ticket-types", ticket_types),
            Route("/api/v1/events/{event_id}/pricing", pricing),
            Route("/api/v1/venues/{venue_id}", venue),
        ]
    )


def side_service(payload: Any, faults: dict[str, Any], name: str) -> Starlette:
    async def answer(request: Request) -> JSONResponse:
        if faults.get(name) == "hang":
            await asyncio.sleep(3)
        return JSONResponse({"success": True, "data": payload})

    return Starlette(routes=[Route("/{path:path}", answer)])


@asynccontextmanager
async def platform(
    faults: dict[str, Any], *, integration_down: bool = False
) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serving_app(catalogue(faults)) as events,
        serving_app(side_service([{"provider": "stripe"}], faults, "integrations")) as integ,
        serving_app(side_service({"paused": False}, faults, "queue")) as queue,
    ):
        settings = make_settings(
            event_service_url=events,
            integration_service_url=f"http://127.0.0.1:{free_port()}"
            if integration_down
            else integ,
            queue_service_url=queue,
        )
        async with running_app(create_app(settings)) as client:
            client.headers.update(auth_header(mint_token(role="admin", settings=settings)))
            yield client


async def test_every_part_is_fetched_and_reported() -> None:
    event_id = str(uuid.uuid4())
    async with platform({}) as client:
        response = await client.get(f"/api/v1/aggregate/events/{event_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["partial"] == []
    data = body["data"]
    assert data["event"]["id"] == event_id
    assert data["venue"]["id"] == VENUE
    assert data["ticket_types"] == [{"name": "GA", "available": 40}]
    assert data["prices"] == [{"name": "GA", "current": 2500}]
    assert data["integrations"] == [{"provider": "stripe"}]
    assert data["queue"] == {"paused": False}
    assert {part["status"] for part in body["parts"].values()} == {"ok"}


async def test_a_hanging_optional_service_is_reported_partial_within_2_seconds() -> None:
    async with platform({"queue": "hang"}) as client:
        started = time.perf_counter()
        response = await client.get(f"/api/v1/aggregate/events/{uuid.uuid4()}")
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    body = response.json()
    assert elapsed < 2.0
    assert body["partial"] == ["queue"]
    assert body["parts"]["queue"]["status"] == "timeout"
    assert body["data"]["queue"] is None
    assert body["data"]["ticket_types"] == [{"name": "GA", "available": 40}]


async def test_an_unreachable_optional_service_is_reported_not_fatal() -> None:
    async with platform({}, integration_down=True) as client:
        response = await client.get(f"/api/v1/aggregate/events/{uuid.uuid4()}")
    assert response.status_code == 200
    assert response.json()["partial"] == ["integrations"]
    assert response.json()["parts"]["integrations"]["status"] == "unavailable"


async def test_a_failed_required_part_is_a_502_naming_it() -> None:
    async with platform({"ticket_types": 500}) as client:
        response = await client.get(f"/api/v1/aggregate/events/{uuid.uuid4()}")
    assert response.status_code == 502
    body = response.json()
    assert "ticket_types" in body["error"] and body["success"] is False


async def test_a_missing_event_is_a_404_and_a_caller_without_token_a_401() -> None:
    async with platform({"event": 404}) as client:
        response = await client.get(f"/api/v1/aggregate/events/{uuid.uuid4()}")
        assert response.status_code == 404
        anonymous = await client.get(
            f"/api/v1/aggregate/events/{uuid.uuid4()}", headers={"Authorization": ""}
        )
        assert anonymous.status_code == 401


async def test_aggregation_counts_against_the_callers_rate_limit() -> None:
    async with (
        serving_app(catalogue({})) as events,
        serving_app(side_service([], {}, "integrations")) as other,
    ):
        settings = make_settings(
            event_service_url=events,
            integration_service_url=other,
            queue_service_url=other,
            rate_limit_max_requests=2,
        )
        async with running_app(create_app(settings)) as client:
            client.headers.update(auth_header(mint_token(role="admin", settings=settings)))
            statuses = [
                (await client.get(f"/api/v1/aggregate/events/{uuid.uuid4()}")).status_code
                for _ in range(3)
            ]
    assert statuses == [200, 200, 429]
