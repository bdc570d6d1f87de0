"""``GET /api/v1/aggregate/events/{id}``: one answer built from several services.

Required parts (the event, its ticket types with availability, current prices, then its venue)
are fetched in parallel; if one fails the answer is a 502 or 504 naming it (a 4xx of the event
itself, such as 404, is passed on as it is). Optional parts (the venue's integrations and the
queue state) get ``OPTIONAL_BUDGET_SECONDS`` and are reported with their own status when they
fail, never fatal, so the whole answer stays within 2 s while one of those services hangs. The
caller's token goes with every call: each service still decides what this caller may see.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from tickettoken.gateway.edge_auth import EdgeAuth
from tickettoken.gateway.proxy import BadGateway, Proxy
from tickettoken.gateway.ratelimit import RateLimiter
from tickettoken.gateway.resilience.breaker import BreakerOpen
from tickettoken.gateway.upstream_client import UpstreamError
from tickettoken.kit.contracts import AUTHENTICATED, errors
from tickettoken.kit.errors import AppError, GatewayTimeout, error_response
from tickettoken.kit.request_context import current_request_id

REQUIRED_BUDGET_SECONDS = 10.0
OPTIONAL_BUDGET_SECONDS = 1.5

router = APIRouter(prefix="/api/v1/aggregate", tags=["aggregation"])


@dataclass
class Part:
    name: str
    status: str  # ok | timeout | unavailable | error | not_found | forbidden
    data: Any = None
    http_status: int | None = None
    ms: int = 0

    def report(self) -> dict[str, Any]:
        found: dict[str, Any] = {"status": self.status, "ms": self.ms}
        if self.http_status is not None:
            found["http_status"] = self.http_status
        return found


async def fetch_part(
    proxy: Proxy, name: str, service: str, path: str, headers: dict[str, str], budget: float
) -> Part:
    started = time.perf_counter()

    def done(status: str, data: Any = None, http_status: int | None = None) -> Part:
        return Part(name, status, data, http_status, int((time.perf_counter() - started) * 1000))

    candidates = proxy.pool.candidates(service)
    if not candidates:
        return done("unavailable")
    breaker = proxy.breakers.get(service)
    try:
        probe = breaker.admit()
    except BreakerOpen:
        return done("unavailable")
    url = proxy.balancer(service).pick(candidates)
    try:
        async with asyncio.timeout(budget):
            http_status, raw = await proxy.client.fetch(
                "GET",
                url + path,
                [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
            )
    except TimeoutError:
        breaker.record(False, probe=probe)
        return done("timeout")
    except (UpstreamError, OSError):
        breaker.record(False, probe=probe)
        proxy.pool.eject(url)
        return done("unavailable")
    finally:
        if probe:  # also when this part is cancelled: the probe must not stay taken
            breaker.abandon_probe()
    breaker.record(http_status < 500, probe=probe)
    if http_status >= 400:
        status = {404: "not_found", 401: "unauthorized", 403: "forbidden"}.get(http_status, "error")
        return done(status, None, http_status)
    try:
        body = json.loads(raw)
    except ValueError:
        return done("error", None, http_status)
    data = body.get("data", body) if isinstance(body, dict) else body
    return done("ok", data, http_status)


def _fail_required(part: Part) -> AppError | JSONResponse:
    if part.http_status is not None and 400 <= part.http_status < 500:
        message = f"{part.name}: the service answered {part.http_status}"
        return error_response(part.http_status, message, details=[{"part": part.name}])
    if part.status == "timeout":
        return GatewayTimeout(f"Required part '{part.name}' timed out", details=[part.name])
    return BadGateway(f"Required part '{part.name}' failed ({part.status})", details=[part.name])


class PartReport(BaseModel):
    status: Literal["ok", "timeout", "unavailable", "error", "not_found", "forbidden"]
    ms: int = Field(ge=0, description="how long the part took")
    http_status: int | None = None


class EventAggregate(BaseModel):
    """``data`` holds each part's own answer (the services' read models, passed through as they
    sent them); ``parts`` how each went; ``partial`` the optional parts that failed."""

    success: Literal[True] = True
    data: dict[str, Any]
    parts: dict[str, PartReport]
    partial: list[str]


@router.get(
    "/events/{event_id}",
    summary="An event with its venue, ticket types and status",
    response_model=EventAggregate,
    responses={
        **AUTHENTICATED,
        **errors(
            404,
            429,
            **{
                "502": "A required part (event, venue, ticket types, prices) failed",
                "504": "A required part timed out",
            },
        ),
    },
)
async def aggregate_event(event_id: uuid.UUID, request: Request) -> JSONResponse:
    edge_auth: EdgeAuth = request.app.state.edge_auth
    principal = await edge_auth.authenticate(request.scope)
    limiter: RateLimiter = request.app.state.rate_limiter
    await limiter.check("GET", request.url.path, "aggregate", "user:" + principal.sub)
    proxy: Proxy = request.app.state.proxy
    headers = {"Authorization": request.headers["authorization"]}
    if request_id := current_request_id():
        headers["X-Request-ID"] = request_id
    base = f"/api/v1/events/{event_id}"

    def required(name: str, service: str, path: str) -> asyncio.Task[Part]:
        return asyncio.create_task(
            fetch_part(proxy, name, service, path, headers, REQUIRED_BUDGET_SECONDS)
        )

    event_task = required("event", "event", base)
    types_task = required("ticket_types", "event", base + "/ticket-types")
    prices_task = required("prices", "event", base + "/pricing")
    event = await event_task
    if event.status != "ok":
        types_task.cancel()
        prices_task.cancel()
        failure = _fail_required(event)
        if isinstance(failure, AppError):
            raise failure
        return failure
    venue_id = event.data.get("venue_id") if isinstance(event.data, dict) else None
    venue_task = required("venue", "venue", f"/api/v1/venues/{venue_id}")
    optional = [
        asyncio.create_task(
            fetch_part(
                proxy,
                "integrations",
                "integration",
                f"/api/v1/integrations?venue_id={venue_id}",
                headers,
                OPTIONAL_BUDGET_SECONDS,
            )
        ),
        asyncio.create_task(
            fetch_part(
                proxy, "queue", "queue", "/api/v1/queue/queues", headers, OPTIONAL_BUDGET_SECONDS
            )
        ),
    ]
    required_parts = [event, *await asyncio.gather(types_task, prices_task, venue_task)]
    for part in required_parts:
        if part.status != "ok":
            for task in optional:
                task.cancel()
            failure = _fail_required(part)
            if isinstance(failure, AppError):
                raise failure
            return failure
    optional_parts = await asyncio.gather(*optional)
    parts = [*required_parts, *optional_parts]
    return JSONResponse(
        {
            "success": True,
            "data": {part.name: part.data for part in parts},
            "parts": {part.name: part.report() for part in parts},
            "partial": [part.name for part in optional_parts if part.status != "ok"],
        }
    )
