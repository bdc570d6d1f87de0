"""Without Redis, the rate-limit routes show and reset the limiter the workers use (issue 7,
item 17): a real worker process and the queue service share one limiter state in PostgreSQL.

A provider endpoint answers the worker's first call with 429 and ``Retry-After: 60``; the
worker's penalty must be visible on ``GET /rate-limits`` of the queue service (another process),
and the admin reset there must let the worker's next call through at once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web
from tests.faults.fault_servers import free_port
from tests.support import TEST_JWT_SECRET, auth_header, make_settings, running_app

from tickettoken.kit.auth import mint_token
from tickettoken.kit.db import Database
from tickettoken.kit.jobs import JobSpec, enqueue_many
from tickettoken.kit.provider_limits import PostgresBackend, ProviderLimit, RateLimiter
from tickettoken.queue.app import create_app
from tickettoken.queue.engine import get_job
from tickettoken.queue.monitoring.config import MonitorConfig

Q = "/api/v1/queue/rate-limits"


class PushEndpoint:
    """A push API whose first answer is 429 with ``Retry-After: 60``, then 200s."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.called = asyncio.Event()

    async def send(self, request: web.Request) -> web.Response:
        self.calls.append(time.monotonic())
        self.called.set()
        if len(self.calls) == 1:
            return web.json_response(
                {"error": "slow down"}, status=429, headers={"Retry-After": "60"}
            )
        return web.json_response({"id": f"push-{len(self.calls)}", "status": "sent"})


@pytest.fixture
async def push_endpoint() -> AsyncIterator[tuple[PushEndpoint, str]]:
    endpoint = PushEndpoint()
    app = web.Application()
    app.router.add_post("/send", endpoint.send)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield endpoint, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
def worker_process(scratch_db: str, push_endpoint: tuple[PushEndpoint, str]) -> Iterator[None]:
    """``tickettoken worker`` on the communication queue, without Redis."""
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "REDIS_HOST"}}
    env.update(
        ENVIRONMENT="development",
        JWT_SECRET=TEST_JWT_SECRET,
        DATABASE_URL=scratch_db,
        PUSH_API_URL=push_endpoint[1],
        LOG_LEVEL="WARNING",
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tickettoken",
            "worker",
            "--queues",
            "communication",
            "--poll-interval",
            "0.1",
            "--concurrency",
            "2",
            "--shutdown-timeout",
            "2",
        ],
        env=env,
    )
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _push_job(database: Database, title: str) -> str:
    async with database.transaction() as session:
        (job,) = await enqueue_many(
            session,
            [
                JobSpec(
                    queue="communication",
                    type="send-push",
                    payload={
                        "token": "device-token-1",
                        "template": "event-cancelled",
                        "data": {"event_name": title, "reason": "weather"},
                    },
                )
            ],
        )
    return job.job_id


async def _internal(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    listed = await client.get(Q, headers=headers)
    assert listed.status_code == 200, listed.text
    (state,) = [p for p in listed.json()["data"]["providers"] if p["provider"] == "internal"]
    return dict(state)


async def test_the_routes_show_and_reset_the_limiter_the_worker_uses_without_redis(
    scratch_db: str, push_endpoint: tuple[PushEndpoint, str], worker_process: None
) -> None:
    endpoint, _ = push_endpoint
    settings = make_settings(database_url=scratch_db)
    admin = auth_header(mint_token(role="admin", sub="rl-admin", settings=settings))
    database = Database(scratch_db)
    app = create_app(settings, MonitorConfig(monitor_enabled=False))
    try:
        async with running_app(app) as client:
            await _push_job(database, "first")
            async with asyncio.timeout(30):  # the worker process starts and calls
                await endpoint.called.wait()
            await asyncio.sleep(0.3)  # the worker records the 429's penalty after the answer

            # the worker's penalty is what the queue service shows
            assert (await _internal(client, admin))["penalized_for_seconds"] > 30

            reset = await client.post(f"{Q}/internal/reset", headers=admin)
            assert reset.status_code == 200, reset.text
            assert reset.json()["data"]["penalized_for_seconds"] == 0

            # and the reset frees the worker: its next call goes out at once
            second = await _push_job(database, "second")
            deadline = time.monotonic() + 15
            record = None
            while time.monotonic() < deadline:
                async with database.transaction() as session:
                    record = await get_job(session, second)
                if record is not None and record.status == "completed":
                    break
                await asyncio.sleep(0.1)
            assert record is not None and record.status == "completed", record
            assert (await _internal(client, admin))["acquired"] >= 1
    finally:
        await database.dispose()


@pytest.mark.alone
async def test_two_limiters_on_one_database_never_exceed_the_shared_limits(scratch_db: str) -> None:
    """Two pools (as two processes have) taking slots at once: one bucket, one slot count."""
    limits = {"p": ProviderLimit(rate=20, concurrency=3, burst=10)}
    limiters = [
        RateLimiter(
            PostgresBackend(
                Database(scratch_db, pool_min=1, pool_max=4, single_statements=True),
                owns_database=True,
            ),
            limits=limits,
            transit_allowance=0,
            default_timeout=10,
        )
        for _ in range(2)
    ]
    in_flight = 0
    most_in_flight = 0
    grants: list[float] = []

    async def caller(limiter: RateLimiter) -> None:
        nonlocal in_flight, most_in_flight
        while time.monotonic() < until:
            async with limiter.slot("p"):
                grants.append(time.monotonic())
                in_flight += 1
                most_in_flight = max(most_in_flight, in_flight)
                await asyncio.sleep(0.02)
                in_flight -= 1

    started = time.monotonic()
    until = started + 1.5
    try:
        await asyncio.gather(*(caller(limiters[i % 2]) for i in range(8)))
    finally:
        for limiter in limiters:
            await limiter.aclose()
    elapsed = grants[-1] - started
    assert most_in_flight <= 3
    assert len(grants) <= 10 + 20 * elapsed + 1
    assert len(grants) >= 0.5 * (10 + 20 * 1.5)  # and the allowance is used (loosely: 2 busy cores)
