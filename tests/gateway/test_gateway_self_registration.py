"""``tickettoken serve`` registers itself (issue 11, Deliver 4), against real processes: two
event-service instances started with nothing but Redis in common with the gateway are found,
both take traffic, and one killed with SIGKILL leaves the rotation (health check at once, its
registration when the TTL lapses) while requests keep succeeding on the survivor."""

from __future__ import annotations

import asyncio
import signal
import time

import httpx
import psutil
import pytest
import redis.asyncio as aioredis
from tests.events.reservations.service_processes import event_service_processes
from tests.gateway.gateway_upstream import free_port
from tests.support import TEST_JWT_SECRET, auth_header, make_settings, running_app

from tickettoken.gateway.app import create_app
from tickettoken.kit.auth import mint_token
from tickettoken.kit.registration import ServiceRegistry, registry_prefix


def events_listed(url: str) -> float:
    """How many event-list requests this instance has answered (its own /metrics)."""
    total = 0.0
    for line in httpx.get(url + "/metrics", timeout=2).text.splitlines():
        if line.startswith("http_requests_total{") and 'route="/api/v1/events"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def serve_pid(port: int) -> int:
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "serve" in cmdline and "event" in cmdline and str(port) in cmdline:
            return int(process.pid)
    raise LookupError(port)


@pytest.mark.slow
async def test_two_served_instances_register_share_traffic_and_a_killed_one_drops_out(
    database_url: str, redis_url: str
) -> None:
    ports = [free_port(), free_port()]
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "JWT_SECRET": TEST_JWT_SECRET,
        "SERVICE_REGISTRATION_TTL_SECONDS": "1.5",
    }
    registry = ServiceRegistry(
        aioredis.Redis.from_url(redis_url), prefix=registry_prefix(make_settings())
    )
    try:
        with event_service_processes(ports, env) as urls:
            assert (await registry.instances(["event"]))["event"] == tuple(sorted(urls))
            settings = make_settings(
                redis_url=redis_url,
                gateway_health_interval_seconds=0.2,
                rate_limit_max_requests=1_000_000,
            )
            gateway = create_app(settings)
            async with running_app(gateway) as client:
                client.headers.update(auth_header(mint_token(role="admin", settings=settings)))
                before = [events_listed(url) for url in urls]
                for _ in range(20):
                    assert (await client.get("/api/v1/events")).status_code == 200
                after = [events_listed(url) for url in urls]
                served = [b - a for a, b in zip(before, after, strict=True)]
                # round-robin: 10 each, unless a health check timed out on this loaded machine
                assert sum(served) == 20 and all(count >= 5 for count in served), served

                victim = psutil.Process(serve_pid(ports[0]))
                victim.send_signal(signal.SIGKILL)
                victim.wait(5)
                killed_at = time.monotonic()
                statuses = []
                while time.monotonic() - killed_at < 3.0:
                    status = (await client.get("/api/v1/events")).status_code
                    statuses.append((time.monotonic() - killed_at, status))
                    await asyncio.sleep(0.05)
                settled = [status for at, status in statuses if at >= 2.0]
                assert settled and all(status == 200 for status in settled), statuses
                assert (await registry.instances(["event"]))["event"] == (urls[1],)
                await asyncio.sleep(0.6)  # the gateway's pool follows the registry
                assert gateway.state.instances.instances("event") == (urls[1],)
        # Stopped gracefully: deregistered, not left to lapse.
        assert (await registry.instances(["event"]))["event"] == ()
    finally:
        await registry.redis.delete(registry.prefix + "event")
        await registry.redis.aclose()
