"""Resilience (issue 11, Deliver 3) under real faults: route timeouts over the whole call, retries
only where safe and within the budget, and circuit breakers, in-process and shared through Redis.
Upstreams are real HTTP servers that fail, hang or are absent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import redis.asyncio as aioredis
from tests.gateway.gateway_upstream import calls, free_port, set_mode, upstreams
from tests.support import auth_header, make_settings, running_app

from tickettoken.gateway.app import create_app
from tickettoken.gateway.resilience.breaker import BREAKER_PREFIX
from tickettoken.kit.auth import mint_token
from tickettoken.kit.registration import namespaced


@asynccontextmanager
async def gateway(instances: list[str], **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(event_service_url=",".join(instances), **overrides)
    async with running_app(create_app(settings)) as client:
        client.headers.update(auth_header(mint_token(role="admin", settings=settings)))
        yield client


async def test_a_get_is_retried_on_another_instance_when_one_answers_503() -> None:
    async with upstreams("broken", "good") as (broken, good), gateway([broken, good]) as client:
        await set_mode(broken, fail_status=503, fail_every=1)
        statuses = [(await client.get("/api/v1/events/x/echo")).status_code for _ in range(6)]
        assert statuses == [200] * 6
        assert await calls(broken, "/api/v1/events/x/echo") >= 1
        assert await calls(good, "/api/v1/events/x/echo") == 6


async def test_a_post_without_idempotency_key_is_never_retried() -> None:
    async with upstreams("broken", "good") as (broken, good), gateway([broken, good]) as client:
        await set_mode(broken, fail_status=503, fail_every=1)
        response = await client.post("/api/v1/reservations/x/echo", json={"quantity": 1})
        assert response.status_code == 503
        assert response.json() == {"instance": "broken", "failed": True}
        assert await calls(broken, "/api/v1/reservations/x/echo") == 1
        assert await calls(good, "/api/v1/reservations/x/echo") == 0


async def test_a_post_with_idempotency_key_is_retried() -> None:
    async with upstreams("broken", "good") as (broken, good), gateway([broken, good]) as client:
        await set_mode(broken, fail_status=503, fail_every=1)
        response = await client.post(
            "/api/v1/reservations/x/echo", json={"quantity": 1}, headers={"Idempotency-Key": "k-1"}
        )
        assert response.status_code == 200
        assert response.json()["instance"] == "good"
        received = {k.lower(): v for k, v in response.json()["headers"]}
        assert received["idempotency-key"] == "k-1"


async def test_a_post_to_an_instance_that_refuses_connections_goes_to_another() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with upstreams("good") as (good,), gateway([dead, good]) as client:
        response = await client.post("/api/v1/reservations/x/echo", json={"quantity": 1})
        assert response.status_code == 200
        assert response.json()["instance"] == "good"


@asynccontextmanager
async def dies_mid_answer() -> AsyncIterator[str]:
    """A service instance that sends its answer's headers and half its body, then goes away."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n"
        )
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b'{"instance": "dying"')
        await writer.drain()
        writer.transport.abort()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


async def test_a_get_whose_instance_dies_mid_answer_is_answered_whole_by_another() -> None:
    async with (
        dies_mid_answer() as dying,
        upstreams("good") as (good,),
        gateway([dying, good]) as client,
    ):
        for _ in range(4):  # round robin: the dying instance gets its turns
            response = await client.get("/api/v1/events/x/echo")
            assert response.status_code == 200
            assert response.json()["instance"] == "good"


async def test_a_post_whose_instance_dies_mid_answer_is_never_passed_off_as_whole() -> None:
    async with dies_mid_answer() as dying, gateway([dying]) as client:
        response = await client.post("/api/v1/reservations/x/echo", json={"quantity": 1})
        # not retried (it may have taken effect); the answer is aborted, never a short body
        # relayed as if complete: the client sees fewer bytes than the declared length
        assert len(response.content) < int(response.headers["content-length"])


async def test_4xx_answers_are_never_retried() -> None:
    async with upstreams("a", "b") as (a, b), gateway([a, b]) as client:
        response = await client.get("/api/v1/events/x/status/404")
        assert response.status_code == 404
        total = await calls(a, "/api/v1/events/x/status/404") + await calls(
            b, "/api/v1/events/x/status/404"
        )
        assert total == 1


async def test_retries_stay_within_20_percent_of_requests() -> None:
    async with upstreams("flaky") as (flaky,), gateway([flaky]) as client:
        await set_mode(flaky, fail_status=503, fail_every=3)
        requests = 60
        statuses = [
            (await client.get("/api/v1/events/x/echo")).status_code for _ in range(requests)
        ]
        received = await calls(flaky, "/api/v1/events/x/echo")
        retries = received - requests
        assert 0 < retries <= 0.2 * requests
        assert 503 in statuses, "the budget ran out, so some failures were answered as they came"


async def test_the_route_timeout_bounds_the_whole_call_including_retries() -> None:
    async with (
        upstreams("slow-a", "slow-b") as (a, b),
        gateway([a, b], gateway_timeout_default_seconds=0.8) as client,
    ):
        await set_mode(a, delay=3)
        await set_mode(b, delay=3)
        started = time.perf_counter()
        response = await client.get("/api/v1/events/x/echo")
        elapsed = time.perf_counter() - started
        assert response.status_code == 504
        assert response.json()["code"] == "GATEWAY_TIMEOUT"
        assert 0.7 < elapsed < 1.5


async def test_payment_routes_get_the_longer_budget() -> None:
    async with (
        upstreams("slow") as (slow,),
        gateway(
            [slow], gateway_timeout_default_seconds=0.3, gateway_timeout_payment_seconds=2.0
        ) as client,
    ):
        await set_mode(slow, delay=0.8)
        assert (await client.get("/api/v1/events/x/echo")).status_code == 504
        confirm = await client.post(
            "/api/v1/reservations/r1/confirm", headers={"Idempotency-Key": "c-1"}
        )
        assert confirm.status_code == 200


BREAKER = {
    "gateway_breaker_min_volume": 10,
    "gateway_breaker_cool_down_seconds": 1.0,
    "gateway_timeout_default_seconds": 2.0,
}


async def open_the_breaker(client: httpx.AsyncClient) -> None:
    for _ in range(30):
        response = await client.get("/api/v1/events/x/echo")
        if response.status_code == 503 and "circuit open" in response.text:
            return
    raise AssertionError("the breaker never opened")


async def test_the_breaker_opens_answers_fast_without_the_service_then_recovers() -> None:
    async with upstreams("down") as (down,), gateway([down], **BREAKER) as client:
        await set_mode(down, fail_status=500, fail_every=1)
        await open_the_breaker(client)
        before = await calls(down, "/api/v1/events/x/echo")
        durations = []
        for _ in range(10):
            started = time.perf_counter()
            response = await client.get("/api/v1/events/x/echo")
            durations.append(time.perf_counter() - started)
            assert response.status_code == 503
            assert response.json()["code"] == "SERVICE_UNAVAILABLE"
            assert int(response.headers["retry-after"]) >= 1
        assert sorted(durations)[5] < 0.005, durations
        assert await calls(down, "/api/v1/events/x/echo") == before, "open: service untouched"

        await set_mode(down, fail_every=0)  # the service recovers
        await asyncio.sleep(1.1)  # cool-down over: half-open, one probe
        assert (await client.get("/api/v1/events/x/echo")).status_code == 200
        assert (await client.get("/api/v1/events/x/echo")).status_code == 200


async def test_a_failed_probe_opens_the_breaker_again() -> None:
    async with upstreams("down") as (down,), gateway([down], **BREAKER) as client:
        await set_mode(down, fail_status=500, fail_every=1)
        await open_the_breaker(client)
        await asyncio.sleep(1.1)
        probe = await client.get("/api/v1/events/x/echo")
        assert probe.status_code == 500  # the probe reached the service and failed
        again = await client.get("/api/v1/events/x/echo")
        assert again.status_code == 503 and "circuit open" in again.text


async def test_an_open_breaker_is_shared_by_every_gateway_through_redis(redis_url: str) -> None:
    prefix = namespaced(BREAKER_PREFIX, make_settings())  # this test's own, not other runs'
    keys = [f"{prefix}event:w", f"{prefix}event:s"]
    redis = aioredis.Redis.from_url(redis_url)
    await redis.delete(*keys)
    try:
        async with (
            upstreams("down") as (down,),
            gateway([down], redis_url=redis_url, **BREAKER) as first,
            gateway([down], redis_url=redis_url, **BREAKER) as second,
        ):
            await set_mode(down, fail_status=500, fail_every=1)
            await open_the_breaker(first)
            await asyncio.sleep(0.5)  # a sync round
            before = await calls(down, "/api/v1/events/x/echo")
            response = await second.get("/api/v1/events/x/echo")
            assert response.status_code == 503 and "circuit open" in response.text
            assert "retry-after" in response.headers
            assert await calls(down, "/api/v1/events/x/echo") == before

            await set_mode(down, fail_every=0)
            await asyncio.sleep(1.1)
            assert (await second.get("/api/v1/events/x/echo")).status_code == 200  # the probe
            await asyncio.sleep(0.5)  # the close reaches the other gateway
            assert (await first.get("/api/v1/events/x/echo")).status_code == 200
    finally:
        await redis.delete(*keys)
        await redis.aclose()


async def test_without_redis_each_gateway_has_its_own_breaker() -> None:
    async with (
        upstreams("down") as (down,),
        gateway([down], **BREAKER) as first,
        gateway([down], **BREAKER) as second,
    ):
        await set_mode(down, fail_status=500, fail_every=1)
        await open_the_breaker(first)
        await asyncio.sleep(0.5)
        assert (await second.get("/api/v1/events/x/echo")).status_code == 500


async def test_the_gateway_is_not_ready_while_a_required_service_breaker_is_open() -> None:
    async with upstreams("down") as (down,), gateway([down], **BREAKER) as client:
        assert (await client.get("/health/ready")).status_code == 200
        await set_mode(down, fail_status=500, fail_every=1)
        await open_the_breaker(client)
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["breakers"] == "down"
        assert (await client.get("/health")).status_code == 200


async def test_metrics_show_upstream_calls_retries_breaker_states_and_cache() -> None:
    async with upstreams("down") as (down,), gateway([down], **BREAKER) as client:
        await set_mode(down, fail_status=503, fail_every=1)
        await open_the_breaker(client)
        text = (await client.get("/metrics")).text
    for series in (
        'gateway_upstream_requests_total{outcome="5xx",service="event"}',
        'gateway_retries_total{reason="status",service="event"}',
        'gateway_breaker_state{service="event"} 1.0',
        'gateway_breaker_rejections_total{service="event"}',
        "gateway_upstream_duration_seconds_bucket",
        "gateway_cache_lookups_total",
        "http_requests_in_flight",
        'route="/api/v1/events/*"',
    ):
        assert series in text, series
