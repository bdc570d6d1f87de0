"""Several instances of a service (issue 11, Deliver 4): static lists, self-registration in
Redis, active health checks, passive ejection and the four balancing strategies, against real
upstream servers; and an instance killed with SIGKILL under load."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from tests.gateway.gateway_upstream import free_port, set_mode, upstreams
from tests.support import auth_header, make_settings, running_app

from tickettoken.gateway.app import create_app
from tickettoken.kit.auth import mint_token
from tickettoken.kit.registration import Heartbeat, ServiceRegistry, registry_prefix
from tickettoken.kit.settings import Settings


@asynccontextmanager
async def gateway(
    instances: list[str], **overrides: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Settings]]:
    values: dict[str, Any] = {"gateway_health_interval_seconds": 0.2}
    values.update(overrides)
    settings = make_settings(event_service_url=",".join(instances), **values)
    async with running_app(create_app(settings)) as client:
        client.headers.update(auth_header(mint_token(role="admin", settings=settings)))
        yield client, settings


async def served_by(client: httpx.AsyncClient, count: int, **kwargs: Any) -> Counter[str]:
    seen: Counter[str] = Counter()
    for _ in range(count):
        response = await client.get("/api/v1/events/x/echo", **kwargs)
        assert response.status_code == 200
        seen[response.json()["instance"]] += 1
    return seen


async def test_round_robin_over_the_static_list() -> None:
    async with upstreams("a", "b") as urls, gateway(urls) as (client, _):
        assert await served_by(client, 10) == Counter({"a": 5, "b": 5})


async def test_random_uses_every_instance() -> None:
    async with (
        upstreams("a", "b") as urls,
        gateway(urls, gateway_balancing="event=random") as (client, _),
    ):
        seen = await served_by(client, 40)
        assert seen["a"] >= 5 and seen["b"] >= 5


async def test_least_connections_avoids_the_busy_instance() -> None:
    async with (
        upstreams("slow", "fast") as (slow, fast),
        gateway([slow, fast], gateway_balancing="event=least-connections") as (client, _),
    ):
        await set_mode(slow, delay=0.6)
        tasks = []
        for _ in range(10):
            tasks.append(asyncio.create_task(client.get("/api/v1/events/x/echo")))
            await asyncio.sleep(0.05)
        responses = await asyncio.gather(*tasks)
        seen = Counter(r.json()["instance"] for r in responses)
        assert seen["slow"] <= 2 and seen["fast"] >= 8, seen


async def test_consistent_hash_keeps_a_caller_on_one_instance_and_moves_it_when_down() -> None:
    async with (
        upstreams("a", "b") as urls,
        gateway(urls, gateway_balancing="event=consistent-hash") as (client, settings),
    ):
        homes: dict[str, str] = {}
        for n in range(16):
            token = mint_token(role="customer", sub=f"user-{n}", settings=settings)
            seen = await served_by(client, 4, headers=auth_header(token))
            assert len(seen) == 1, "one caller, one instance"
            homes[f"user-{n}"] = next(iter(seen))
        assert set(homes.values()) == {"a", "b"}, "callers spread over both"

        user = next(u for u, home in homes.items() if home == "a")
        token = mint_token(role="customer", sub=user, settings=settings)
        await set_mode(urls[0], ready=0)  # a fails its health check
        await asyncio.sleep(0.5)
        assert await served_by(client, 3, headers=auth_header(token)) == Counter({"b": 3})
        await set_mode(urls[0], ready=1)
        await asyncio.sleep(0.5)
        assert await served_by(client, 3, headers=auth_header(token)) == Counter({"a": 3})


async def test_an_instance_failing_its_health_check_gets_no_traffic_until_it_passes() -> None:
    async with upstreams("a", "b") as (a, b), gateway([a, b]) as (client, _):
        await set_mode(a, ready=0)
        await asyncio.sleep(0.5)
        for _ in range(6):
            response = await client.post("/api/v1/reservations/x/echo", json={})
            assert response.json()["instance"] == "b"
        await set_mode(a, ready=1)
        await asyncio.sleep(0.5)
        assert (await served_by(client, 4))["a"] == 2


async def test_instances_registered_in_redis_are_found_and_forgotten(redis_url: str) -> None:
    redis = aioredis.Redis.from_url(redis_url)
    registry = ServiceRegistry(redis, prefix=registry_prefix(make_settings()))
    try:
        async with (
            upstreams("registered") as (url,),
            gateway([], redis_url=redis_url) as (client, _),
        ):
            assert (await client.get("/api/v1/search/x/echo")).status_code == 503
            heartbeat = Heartbeat(registry, "search", url, ttl_seconds=0.6)
            await heartbeat.start()
            await asyncio.sleep(0.5)
            await asyncio.sleep(0.5)  # longer than the TTL: the heartbeat keeps it registered
            response = await client.get("/api/v1/search/x/echo")
            assert response.status_code == 200
            assert response.json()["instance"] == "registered"

            await heartbeat.stop()
            await asyncio.sleep(0.5)
            assert (await client.get("/api/v1/search/x/echo")).status_code == 503

            await registry.register("search", url, ttl_seconds=1.5)  # and then dies silently
            await asyncio.sleep(0.6)
            assert (await client.get("/api/v1/search/x/echo")).status_code == 200
            await asyncio.sleep(1.5)
            assert (await client.get("/api/v1/search/x/echo")).status_code == 503
    finally:
        await redis.delete(registry.prefix + "search")
        await redis.aclose()


UPSTREAM_SCRIPT = Path(__file__).with_name("gateway_upstream.py")


def start_upstream_process(port: int, name: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path.cwd()), env.get("PYTHONPATH", "")])
    process = subprocess.Popen([sys.executable, str(UPSTREAM_SCRIPT), str(port), name], env=env)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("upstream process did not start")


def cut_short(response: httpx.Response) -> bool:
    """Whether the answer's body ended before its declared length (the gateway's upstream died
    after the headers: the gateway aborts the answer, it never pretends it is whole)."""
    declared = response.headers.get("content-length")
    return declared is not None and int(declared) != len(response.content)


@pytest.mark.alone
@pytest.mark.slow
async def test_an_instance_killed_under_load_costs_nothing_after_2_seconds_and_comes_back() -> None:
    ports = [free_port(), free_port()]
    processes = [start_upstream_process(ports[0], "one"), start_upstream_process(ports[1], "two")]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    log: list[tuple[float, int, str]] = []
    stop = asyncio.Event()
    try:
        async with gateway(urls, rate_limit_max_requests=1_000_000) as (client, _):

            async def drive(n: int) -> None:
                while not stop.is_set():
                    if n % 2:
                        response = await client.post("/api/v1/reservations/x/echo", json={"n": n})
                    else:
                        response = await client.get("/api/v1/events/x/echo")
                    status, instance = response.status_code, ""
                    if cut_short(response):
                        # the instance died mid-answer: a real server drops the connection, the
                        # in-process client sees fewer bytes than the answer's Content-Length
                        status = 0
                    elif response.is_success:
                        instance = response.json().get("instance", "")
                    log.append((time.monotonic(), status, instance))

            drivers = [asyncio.create_task(drive(n)) for n in range(4)]
            await asyncio.sleep(1.0)
            processes[0].send_signal(signal.SIGKILL)
            processes[0].wait()
            killed_at = time.monotonic()
            await asyncio.sleep(3.0)
            processes[0] = start_upstream_process(ports[0], "one")
            restarted_at = time.monotonic()
            await asyncio.sleep(2.5)
            stop.set()
            await asyncio.gather(*drivers)
    finally:
        stop.set()
        for process in processes:
            process.kill()
            process.wait()

    before = [entry for entry in log if entry[0] < killed_at]
    assert {entry[2] for entry in before} == {"one", "two"}
    settled = [entry for entry in log if killed_at + 2.0 <= entry[0] < restarted_at]
    assert settled and all(status == 200 for _, status, _ in settled), Counter(
        status for _, status, _ in settled
    )
    assert {entry[2] for entry in settled} == {"two"}, "traffic moved to the survivor"
    back = [entry for entry in log if entry[0] >= restarted_at + 1.5]
    assert all(status == 200 for _, status, _ in back)
    assert "one" in {entry[2] for entry in back}, "the restarted instance is back in rotation"
    failures = [entry for entry in log if entry[1] != 200]
    print(f"requests={len(log)} failures={len(failures)} (all within 2 s of the kill)")


async def test_a_service_app_with_an_advertised_url_registers_itself_while_it_runs(
    redis_url: str,
) -> None:
    from fastapi import FastAPI

    from tickettoken.kit.app_factory import create_service_app

    async with (
        upstreams("registered") as (url,),
        gateway([], redis_url=redis_url) as (client, _),
    ):
        service: FastAPI = create_service_app(
            "search",
            title="a service",
            settings=make_settings(redis_url=redis_url, service_advertise_url=url),
            use_database=False,
        )
        async with running_app(service):
            await asyncio.sleep(0.5)
            response = await client.get("/api/v1/search/x/echo")
            assert response.status_code == 200
            assert response.json()["instance"] == "registered"
        await asyncio.sleep(0.5)  # deregistered at shutdown, not left to lapse
        assert (await client.get("/api/v1/search/x/echo")).status_code == 503
