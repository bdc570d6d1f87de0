"""Rate limits (issue 11, Deliver 5): per client and route, purchases per user with a block,
shared by two gateways through Redis, in process memory without Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import redis.asyncio as aioredis
from tests.gateway.gateway_upstream import serving
from tests.support import auth_header, make_settings, running_app

from tickettoken.gateway.app import create_app
from tickettoken.gateway.ratelimit import RATE_LIMIT_PREFIX
from tickettoken.kit.auth import mint_token
from tickettoken.kit.registration import namespaced


@asynccontextmanager
async def gateway(upstream: str, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        event_service_url=upstream, integration_service_url=upstream, **overrides
    )
    async with running_app(create_app(settings)) as client:
        yield client


def token(sub: str) -> dict[str, str]:
    return auth_header(mint_token(role="customer", sub=sub, settings=make_settings()))


async def test_the_limit_holds_across_two_gateways_sharing_redis(redis_url: str) -> None:
    user = token("user-" + uuid.uuid4().hex)
    async with (
        serving("event") as upstream,
        gateway(upstream, redis_url=redis_url, rate_limit_max_requests=5) as first,
        gateway(upstream, redis_url=redis_url, rate_limit_max_requests=5) as second,
    ):
        remaining = []
        for client in (first, second, first, second, first):
            response = await client.get("/api/v1/events/x/echo", headers=user)
            assert response.status_code == 200
            assert response.headers["x-ratelimit-limit"] == "5"
            remaining.append(int(response.headers["x-ratelimit-remaining"]))
        assert remaining == [4, 3, 2, 1, 0]
        refused = await second.get("/api/v1/events/x/echo", headers=user)
        assert refused.status_code == 429
        body = refused.json()
        assert body["code"] == "RATE_LIMITED" and body["success"] is False
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert int(refused.headers["x-ratelimit-reset"]) >= int(time.time())
        # limits are per client and per route: another prefix and another user still pass
        assert (await first.get("/api/v1/integrations/x/echo", headers=user)).status_code == 200
        other = token("user-" + uuid.uuid4().hex)
        assert (await first.get("/api/v1/events/x/echo", headers=other)).status_code == 200


async def test_a_sixth_purchase_in_a_minute_blocks_purchases_for_five_minutes(
    redis_url: str,
) -> None:
    sub = "buyer-" + uuid.uuid4().hex
    buyer = token(sub)
    async with (
        serving("event") as upstream,
        gateway(upstream, redis_url=redis_url) as first,
        gateway(upstream, redis_url=redis_url) as second,
    ):
        paths = ["/api/v1/reservations", "/api/v1/reservations/r1/confirm"] * 3
        statuses = []
        for n, path in enumerate(paths):
            client = first if n % 2 else second
            statuses.append((await client.post(path, json={}, headers=buyer)).status_code)
        assert statuses == [200] * 5 + [429]
        blocked = await first.post("/api/v1/events/e1/reservations", json={}, headers=buyer)
        assert blocked.status_code == 429
        assert 290 <= int(blocked.headers["retry-after"]) <= 300
        # reading is not purchasing; another buyer is not blocked
        assert (await first.get("/api/v1/events/e1/echo", headers=buyer)).status_code == 200
        someone = token("buyer-" + uuid.uuid4().hex)
        assert (await second.post("/api/v1/reservations", json={}, headers=someone)).is_success

    redis = aioredis.Redis.from_url(redis_url)
    try:
        prefix = namespaced(RATE_LIMIT_PREFIX, make_settings())
        block_ms = await redis.pttl(f"{prefix}block:purchase:user:{sub}")
        assert 290_000 <= block_ms <= 300_000, "the block lasts five minutes"
    finally:
        await redis.aclose()


async def test_without_redis_the_limits_hold_in_process() -> None:
    user = token("user-" + uuid.uuid4().hex)
    async with serving("event") as upstream, gateway(upstream, rate_limit_max_requests=3) as client:
        statuses = [
            (await client.get("/api/v1/events/x/echo", headers=user)).status_code for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]


async def test_anonymous_callers_of_public_routes_are_limited_by_address() -> None:
    async with serving("event") as upstream, gateway(upstream, rate_limit_max_requests=2) as client:
        statuses = [
            (await client.post("/api/v1/integrations/webhooks/stripe", content=b"{}")).status_code
            for _ in range(3)
        ]
        assert statuses == [200, 200, 429]
