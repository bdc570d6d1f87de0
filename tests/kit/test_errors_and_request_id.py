"""The one error envelope (401, 403, 404, 405, 409, 422, 500) and request-id propagation."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field
from tests.support import make_settings, running_app

from tickettoken.kit.app_factory import create_service_app
from tickettoken.kit.errors import Conflict, Forbidden
from tickettoken.kit.request_context import current_request_id


class Thing(BaseModel):
    name: str = Field(min_length=1, max_length=10)
    quantity: int = Field(ge=1)


def build_app() -> FastAPI:
    router = APIRouter()

    @router.post("/things/{thing_id}")
    async def create(thing_id: int, thing: Thing) -> dict[str, object]:
        return {"id": thing_id, "name": thing.name}

    @router.get("/things/{thing_id}")
    async def read(thing_id: int) -> dict[str, object]:
        return {"id": thing_id}

    @router.get("/forbidden")
    async def forbidden() -> None:
        raise Forbidden("Not yours")

    @router.get("/conflict")
    async def conflict() -> None:
        raise Conflict("Sold out", details=[{"available": 0}])

    @router.get("/crash")
    async def crash() -> None:
        raise RuntimeError("SELECT secret FROM users -- internal detail")

    @router.get("/request-id")
    async def request_id() -> dict[str, str | None]:
        return {"seen": current_request_id()}

    return create_service_app(
        "test", title="t", routers=[router], settings=make_settings(), use_database=False
    )


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(build_app()) as c:
        yield c


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status
    body = response.json()
    assert body["success"] is False
    assert body["code"] == code
    assert isinstance(body["error"], str) and body["error"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body  # type: ignore[no-any-return]


async def test_unknown_route_is_404_in_the_envelope(client: httpx.AsyncClient) -> None:
    assert_envelope(await client.get("/no/such/route"), 404, "NOT_FOUND")


async def test_wrong_method_is_405_in_the_envelope(client: httpx.AsyncClient) -> None:
    assert_envelope(await client.delete("/forbidden"), 405, "METHOD_NOT_ALLOWED")


async def test_405_allow_names_the_methods_of_every_route_at_the_path(
    client: httpx.AsyncClient,
) -> None:
    response = await client.delete("/things/1")
    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "GET, POST"


async def test_validation_errors_are_422_with_field_details(client: httpx.AsyncClient) -> None:
    body = assert_envelope(
        await client.post("/things/abc", json={"name": "", "quantity": 0}), 422, "VALIDATION_ERROR"
    )
    fields = {d["field"] for d in body["details"]}  # type: ignore[attr-defined]
    assert {"path.thing_id", "body.name", "body.quantity"} <= fields


async def test_malformed_json_is_422_not_500(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/things/1", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_envelope(response, 422, "VALIDATION_ERROR")


async def test_app_errors_keep_status_code_and_details(client: httpx.AsyncClient) -> None:
    assert_envelope(await client.get("/forbidden"), 403, "FORBIDDEN")
    body = assert_envelope(await client.get("/conflict"), 409, "CONFLICT")
    assert body["details"] == [{"available": 0}]


async def test_unexpected_errors_are_500_without_internals(client: httpx.AsyncClient) -> None:
    response = await client.get("/crash")
    body = assert_envelope(response, 500, "INTERNAL_ERROR")
    text = json.dumps(body)
    assert "SELECT" not in text and "Traceback" not in text and "RuntimeError" not in text


async def test_request_id_is_generated_returned_and_visible_to_handlers(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/request-id")
    generated = response.headers["x-request-id"]
    assert len(generated) >= 16
    assert response.json() == {"seen": generated}


async def test_client_request_id_is_kept_and_unsafe_ones_replaced(
    client: httpx.AsyncClient,
) -> None:
    kept = await client.get("/request-id", headers={"X-Request-ID": "abc-123.req"})
    assert kept.headers["x-request-id"] == "abc-123.req" and kept.json()["seen"] == "abc-123.req"
    unsafe = await client.get("/request-id", headers={"X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces"
    assert unsafe.json()["seen"] == unsafe.headers["x-request-id"]


async def test_error_bodies_carry_the_request_id_sent_by_the_client(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/nope", headers={"X-Request-ID": "trace-42"})
    assert response.json()["request_id"] == "trace-42"


async def test_every_service_exposes_health_metrics_and_docs(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json()["status"] == "ok"
    assert (await client.get("/health/ready")).status_code == 200
    await client.get("/request-id")
    metrics = await client.get("/metrics")
    # Requests are counted by route template, unknown paths under one label.
    assert 'route="/request-id",service="test",status="200"' in metrics.text
    assert 'route="unmatched",service="test",status="404"' in metrics.text
    assert (await client.get("/openapi.json")).json()["info"]["title"] == "t"
    assert (await client.get("/docs")).status_code == 200
