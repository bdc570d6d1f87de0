"""Issue 11's end-to-end acceptance against real processes: two event-service instances
(``tickettoken serve event``, registering themselves in Redis) behind two gateways (``tickettoken
serve gateway``) sharing that Redis. A client makes reservations and reads through both gateways
while one event instance is killed with SIGKILL: two seconds later no request fails, the survivor
takes everything, and the restarted instance comes back into rotation. With every event instance
down the breaker opens and answers 503 with Retry-After in under 5 ms, then half-opens and
recovers once an instance is back."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO

import asyncpg
import httpx
import pytest
from tests.gateway.gateway_upstream import free_port
from tests.support import TEST_JWT_SECRET, make_settings

from tickettoken.kit.auth import mint_token

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SETTINGS = make_settings()


@dataclass
class Processes:
    """The platform's processes of this test, each restartable on its own port."""

    env: dict[str, str]
    running: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: list[IO[bytes]] = field(default_factory=list)

    def start(self, service: str, port: int) -> str:
        log = tempfile.TemporaryFile()  # noqa: SIM115  (closed in stop_all)
        self.logs.append(log)
        self.running[port] = subprocess.Popen(
            [sys.executable, "-m", "tickettoken", "serve", service, "--port", str(port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return f"http://127.0.0.1:{port}"

    def kill(self, port: int) -> None:
        process = self.running.pop(port)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop_all(self) -> None:
        for process in self.running.values():
            process.terminate()
        for process in self.running.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in self.logs:
            log.close()

    def output(self) -> str:
        text = []
        for log in self.logs:
            log.seek(0)
            text.append(log.read().decode(errors="replace")[-1500:])
        return "\n---\n".join(text)


async def wait_ready(processes: Processes, *urls: str) -> None:
    deadline = time.monotonic() + 40.0
    async with httpx.AsyncClient(timeout=1.0) as client:
        for url in urls:
            while True:
                try:
                    if (await client.get(url + "/health/ready")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"{url} not ready:\n{processes.output()}")
                await asyncio.sleep(0.1)


async def served_requests(url: str) -> float:
    """How many /api/v1 requests this event instance has answered (its own /metrics)."""
    async with httpx.AsyncClient(timeout=2.0) as client:
        text = (await client.get(url + "/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("http_requests_total{") and 'route="/api/v1/' in line
    )


async def create_sale(database_url: str) -> tuple[str, str]:
    """A published event with a ticket type too large to sell out during the test."""
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        venue = await conn.fetchval(
            "INSERT INTO venues (name, capacity) VALUES ('Failover Hall', 10000000) RETURNING id"
        )
        event = await conn.fetchval(
            """INSERT INTO events (venue_id, name, category, start_date, end_date, capacity,
                                   status)
               VALUES ($1, 'Failover', 'concert', now() + interval '30 days',
                       now() + interval '30 days 3 hours', 1000000, 'published') RETURNING id""",
            venue,
        )
        ticket_type = await conn.fetchval(
            """INSERT INTO ticket_types (event_id, name, price, quantity, max_per_order)
               VALUES ($1, 'General', 10.00, 1000000, 4) RETURNING id""",
            event,
        )
        return str(event), str(ticket_type)
    finally:
        await conn.close()


@dataclass
class Client:
    """Reservations and reads through both gateways in turn; every outcome logged."""

    gateways: list[httpx.AsyncClient]
    event_id: str
    ticket_type_id: str
    log: list[tuple[float, int]] = field(default_factory=list)

    async def one(self, n: int) -> int:
        gateway = self.gateways[n % len(self.gateways)]
        token = mint_token(role="customer", sub=uuid.uuid4().hex, settings=SETTINGS)
        headers = {"Authorization": f"Bearer {token}"}
        try:
            if n % 2:
                response = await gateway.post(
                    f"/api/v1/events/{self.event_id}/reservations",
                    json={"ticket_type_id": self.ticket_type_id, "quantity": 1},
                    headers=headers,
                )
                status = response.status_code if response.status_code != 201 else 200
            else:
                response = await gateway.get(f"/api/v1/events/{self.event_id}", headers=headers)
                status = response.status_code
        except httpx.HTTPError:
            status = 0
        self.log.append((time.monotonic(), status))
        return status

    async def drive(self, stop: asyncio.Event, worker: int) -> None:
        n = worker
        while not stop.is_set():
            await self.one(n)
            n += 4
            await asyncio.sleep(0.01)


async def open_everywhere(port: int, path: str, token: str, within: float = 5.0) -> None:
    """Wait until ten requests in a row on new connections (so on any of the gateway's workers,
    each syncing with Redis on its own) answer from an open breaker; a loaded machine delays a
    worker's sync beyond its 0.2 s interval."""
    in_a_row, deadline = 0, time.monotonic() + within
    while in_a_row < 10:
        assert time.monotonic() < deadline, f"gateway {port}: breaker not open on every worker"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as fresh:
            answer = await fresh.get(path, headers={"Authorization": f"Bearer {token}"})
        opened = answer.status_code == 503 and "circuit open" in answer.text
        in_a_row = in_a_row + 1 if opened else 0
        if not opened:
            await asyncio.sleep(0.05)


def raw_timings(port: int, path: str, token: str, count: int) -> list[float]:
    """Milliseconds per answer over one keep-alive connection, each a 503 with Retry-After.
    A plain socket: an HTTP client library's own cost would be most of what is measured."""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()
    timings = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        for _ in range(count):
            start = time.perf_counter()
            conn.sendall(request)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(
                next(
                    line.split(b":", 1)[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
            )
            while len(body) < length:
                body += conn.recv(65536)
            timings.append((time.perf_counter() - start) * 1000)
            assert head.startswith(b"HTTP/1.1 503"), head
            assert b"\r\nretry-after:" in head.lower(), head
    return timings


@contextmanager
def platform(env: dict[str, str]) -> Iterator[Processes]:
    processes = Processes(env)
    try:
        yield processes
    finally:
        processes.stop_all()


@pytest.fixture
async def gateways_env(database_url: str, redis_url: str) -> AsyncIterator[dict[str, str]]:
    # A Redis database of its own: breakers and limits of other runs never meet these.
    base = redis_url.rsplit("/", 1)[0] if redis_url.count("/") > 2 else redis_url
    private = base + "/11"
    env = {
        **os.environ,
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": database_url,
        "REDIS_URL": private,
        "JWT_SECRET": TEST_JWT_SECRET,
        "EVENT_SERVICE_URL": "",  # found through registration only
        "SERVICE_REGISTRATION_TTL_SECONDS": "3",
        "GATEWAY_HEALTH_INTERVAL_SECONDS": "0.2",
        "GATEWAY_BREAKER_MIN_VOLUME": "10",
        "GATEWAY_BREAKER_WINDOW_SECONDS": "2",
        "GATEWAY_BREAKER_COOL_DOWN_SECONDS": "2",
        "GATEWAY_TIMEOUT_DEFAULT_SECONDS": "3",
        "RATE_LIMIT_MAX_REQUESTS": "1000000",
    }
    yield env
    import redis.asyncio as aioredis

    redis = aioredis.Redis.from_url(private)
    keys = [key async for key in redis.scan_iter("tt:gw:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


@pytest.mark.alone
async def test_failover_restart_and_breaker_through_two_gateways(
    database_url: str, gateways_env: dict[str, str]
) -> None:
    event_id, ticket_type_id = await create_sale(database_url)
    event_ports = [free_port(), free_port()]
    gateway_ports = [free_port(), free_port()]
    with platform(gateways_env) as processes:
        events = [processes.start("event", port) for port in event_ports]
        gateways = [processes.start("gateway", port) for port in gateway_ports]
        await wait_ready(processes, *events)
        await wait_ready(processes, *gateways)
        await asyncio.sleep(0.5)  # the gateways' watchers read the registrations
        clients = [httpx.AsyncClient(base_url=url, timeout=5.0) for url in gateways]
        client = Client(clients, event_id, ticket_type_id)
        try:
            # Both instances take traffic.
            before = [await served_requests(url) for url in events]
            stop = asyncio.Event()
            drivers = [asyncio.create_task(client.drive(stop, i)) for i in range(4)]
            await asyncio.sleep(1.5)
            after = [await served_requests(url) for url in events]
            assert all(b > a for a, b in zip(before, after, strict=True)), (before, after)

            # One killed: after 2 s nothing fails and the survivor takes everything.
            processes.kill(event_ports[0])
            killed_at = time.monotonic()
            await asyncio.sleep(2.0)
            survivor_before = await served_requests(events[1])
            await asyncio.sleep(1.5)
            survivor_after = await served_requests(events[1])
            settled = [status for at, status in client.log if at >= killed_at + 2.0]
            assert settled and all(status == 200 for status in settled), settled
            assert survivor_after - survivor_before >= len(settled) * 0.9

            # Restarted on its port: back in rotation.
            processes.start("event", event_ports[0])
            await wait_ready(processes, events[0])
            await asyncio.sleep(1.0)
            back_before = await served_requests(events[0])
            await asyncio.sleep(1.5)
            assert await served_requests(events[0]) > back_before
            stop.set()
            await asyncio.gather(*drivers)
            failures = [status for at, status in client.log if status != 200]
            print(f"requests={len(client.log)} failures={len(failures)} {Counter(failures)}")
            assert all(at < killed_at + 2.0 for at, status in client.log if status != 200)

            # Every instance down: the breaker opens and answers at once.
            for port in event_ports:
                processes.kill(port)
            first = clients[0]
            reader = mint_token(role="customer", sub=uuid.uuid4().hex, settings=SETTINGS)
            for http in clients:
                http.headers["Authorization"] = f"Bearer {reader}"
            opened = None
            seen = []
            down_at = time.monotonic()
            while opened is None and time.monotonic() - down_at < 15:
                response = await first.get(f"/api/v1/events/{event_id}")
                seen.append(response.status_code)
                if response.status_code == 503 and "circuit open" in response.text:
                    opened = response
            assert opened is not None, f"the breaker did not open: {Counter(seen)}"
            print(f"breaker open after {time.monotonic() - down_at:.1f} s: {Counter(seen)}")
            assert int(opened.headers["retry-after"]) >= 1
            for port in gateway_ports:  # the open state reaches the other gateway through Redis
                await open_everywhere(port, f"/api/v1/events/{event_id}", reader)
            timings = [
                ms
                for port in gateway_ports
                for ms in raw_timings(port, f"/api/v1/events/{event_id}", reader, 15)
            ]
            print(f"open-breaker answers: median {statistics.median(timings):.2f} ms")
            assert statistics.median(timings) < 5.0, timings

            # An instance back: after the cool-down a probe passes and the breaker closes.
            processes.start("event", event_ports[1])
            await wait_ready(processes, events[1])
            deadline = time.monotonic() + 10
            while True:
                status = (await first.get(f"/api/v1/events/{event_id}")).status_code
                if status == 200:
                    break
                assert time.monotonic() < deadline, "the breaker did not recover"
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.5)
            for n in range(6):
                assert await client.one(n) == 200
        finally:
            for http in clients:
                await http.aclose()
