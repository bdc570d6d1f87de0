"""The request context (``kit.request_context``): code that runs for a request reads its id, the
client address and the verified caller there, without ``fastapi.Request``; nothing of one
request is left for the next or for background work."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, FastAPI
from tests.support import auth_header, make_settings

from tickettoken.kit.app_factory import create_service_app
from tickettoken.kit.auth import Caller, mint_token
from tickettoken.kit.request_context import (
    current_actor,
    current_client_address,
    current_request_id,
)


def seen() -> dict[str, object]:
    """What a service deep below the route would read."""
    return {
        "request_id": current_request_id(),
        "client": current_client_address(),
        "actor": list(actor) if (actor := current_actor()) else None,
    }


def build_app() -> FastAPI:
    router = APIRouter()

    @router.get("/who")
    async def who(principal: Caller) -> dict[str, object]:
        return seen()

    @router.get("/anonymous")
    async def anonymous() -> dict[str, object]:
        return seen()

    return create_service_app(
        "test", title="t", routers=[router], settings=make_settings(), use_database=False
    )


async def call(app: FastAPI, client_host: str, path: str, **headers: str) -> dict[str, object]:
    transport = httpx.ASGITransport(app=app, client=(client_host, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get(path, headers=headers)
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


async def test_a_request_sees_its_id_client_address_and_caller() -> None:
    app = build_app()
    settings = make_settings()
    token = mint_token(role="customer", settings=settings, sub="fan-7")
    async with app.router.lifespan_context(app):
        body = await call(
            app, "203.0.113.7", "/who", **auth_header(token), **{"X-Request-ID": "req-ctx-1"}
        )
        assert body == {
            "request_id": "req-ctx-1",
            "client": "203.0.113.7",
            "actor": ["fan-7", "customer"],
        }
        # the next request, anonymous and from a transport that reports a name: nothing left over
        body = await call(app, "testclient", "/anonymous")
    assert body["client"] is None and body["actor"] is None and body["request_id"]
    assert seen() == {"request_id": None, "client": None, "actor": None}
