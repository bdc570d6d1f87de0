"""The response cache (issue 11, Deliver 6): public catalogue GETs shared by two gateways through
Redis and invalidated by a write through the other one; never private or credentialed answers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from tests.gateway.gateway_upstream import calls, serving, set_mode
from tests.support import auth_header, make_settings, running_app

from tickettoken.gateway.app import create_app
from tickettoken.kit.auth import mint_token


@asynccontextmanager
async def gateway(upstream: str, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(event_service_url=upstream, **overrides)
    async with running_app(create_app(settings)) as client:
        client.headers.update(auth_header(mint_token(role="customer", settings=settings)))
        yield client


async def test_a_public_event_page_is_shared_and_invalidated_by_a_put_through_the_other_gateway(
    redis_url: str,
) -> None:
    page = f"/api/v1/events/{uuid.uuid4()}"
    async with (
        serving("event") as upstream,
        gateway(upstream, redis_url=redis_url) as first,
        gateway(upstream, redis_url=redis_url) as second,
    ):
        await set_mode(upstream, cache_control="public, max-age=60")
        miss = await first.get(page)
        assert miss.status_code == 200 and miss.headers["x-cache"] == "MISS"
        hit = await first.get(page)
        assert hit.headers["x-cache"] == "HIT"
        assert hit.content == miss.content
        assert hit.headers["content-type"] == "application/json"
        shared = await second.get(page)
        assert shared.headers["x-cache"] == "HIT", "the other gateway serves the same entry"
        assert await calls(upstream, page) == 1

        assert (await second.put(page, json={"name": "renamed"})).status_code == 200
        after = await first.get(page)
        assert after.headers["x-cache"] == "MISS", "a write through any gateway invalidates"
        assert await calls(upstream, page) == 3  # first GET, the PUT, the GET after it


async def test_credentialed_answers_without_public_are_never_cached() -> None:
    page = f"/api/v1/events/{uuid.uuid4()}"
    async with serving("event") as upstream, gateway(upstream) as client:
        for cache_control in ("", "max-age=60", "private, max-age=60", "public, no-store"):
            await set_mode(upstream, cache_control=cache_control)
            before = await calls(upstream, page)
            await client.get(page)
            second = await client.get(page)
            assert second.headers["x-cache"] == "MISS", cache_control
            assert await calls(upstream, page) == before + 2, cache_control


async def test_only_catalogue_routes_are_cached() -> None:
    path = f"/api/v1/orders/{uuid.uuid4()}"
    async with serving("event") as upstream, gateway(upstream) as client:
        await set_mode(upstream, cache_control="public, max-age=60")
        await client.get(path)
        second = await client.get(path)
        assert "x-cache" not in second.headers
        assert await calls(upstream, path) == 2


async def test_no_cache_from_the_client_skips_the_lookup_and_s_maxage_wins() -> None:
    page = "/api/v1/events"
    async with serving("event") as upstream, gateway(upstream) as client:
        await set_mode(upstream, cache_control="public, max-age=0, s-maxage=60")
        await client.get(page, params={"q": "jazz"})
        assert (await client.get(page, params={"q": "jazz"})).headers["x-cache"] == "HIT"
        fresh = await client.get(page, params={"q": "jazz"}, headers={"Cache-Control": "no-cache"})
        assert fresh.headers["x-cache"] == "MISS"
        other_query = await client.get(page, params={"q": "rock"})
        assert other_query.headers["x-cache"] == "MISS"
