"""Acceptance: every alert rule fires once per cooldown with two queue-service processes.

Two real ``tickettoken serve queue`` processes run against one scratch database with thresholds
at zero (every rule breached), a 0.3 s monitor interval and short cooldowns. Each alert must be
stored once per cooldown (never twice within one), sent once to the webhook and once by email
per stored alert, and ``queue_metrics`` must be sampled once per sampling interval in total.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import time
from email import message_from_bytes
from typing import Any

import asyncpg
import httpx
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from tests.support import TEST_JWT_SECRET, free_port

PORTS = (free_port(), free_port())
WEBHOOK_PORT = free_port()
SMTP_PORT = free_port()
CRITICAL_COOLDOWN = 4.0
WARNING_COOLDOWN = 7.0
SAMPLE_SECONDS = 2.0
RUN_SECONDS = 12.0

EXPECTED = {
    "money.waiting": "critical",
    "money.oldest_waiting": "critical",
    "money.failures_10m": "critical",
    "communication.waiting": "warning",
    "background.waiting": "warning",
    "background.failure_rate": "warning",
    "money.failure_rate": "warning",  # the failed payment is also 1 of 1 in the last minute
}


class Inbox:
    def __init__(self) -> None:
        self.subjects: list[str] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        self.subjects.append(str(message_from_bytes(raw)["Subject"]))
        return "250 OK"


async def _breach_every_rule(conn: asyncpg.Connection) -> None:
    for table, job_type in (
        ("jobs_money", "payment-process"),
        ("jobs_communication", "send-sms"),
        ("jobs_background", "analytics-track"),
    ):
        await conn.execute(
            f"INSERT INTO {table} (type, run_at) VALUES ($1, now() - interval '1 minute')",
            job_type,
        )
    await conn.execute(
        "INSERT INTO jobs_money (type, status, finished_at, last_error)"
        " VALUES ('payment-process', 'failed', now(), 'card declined')"
    )
    await conn.execute(
        "INSERT INTO jobs_background (type, status, finished_at, last_error)"
        " VALUES ('analytics-track', 'failed', now() + interval '1 hour', 'boom')"
    )  # finished "in the future": stays inside the last-minute window for the whole test


async def _wait_ready(port: int) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"queue service on {port} did not start")


@pytest.mark.slow
async def test_each_rule_fires_once_per_cooldown_across_instances(
    scratch_db: str, redis_url: str
) -> None:
    dsn = scratch_db.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    await _breach_every_rule(conn)

    hooks: list[dict[str, Any]] = []

    async def webhook(request: web.Request) -> web.Response:
        hooks.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/alerts", webhook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", WEBHOOK_PORT).start()
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=SMTP_PORT)
    smtp.start()

    env = {
        **os.environ,
        "DATABASE_URL": scratch_db,
        "REDIS_URL": redis_url,
        "JWT_SECRET": TEST_JWT_SECRET,
        "ENVIRONMENT": "development",
        "LOG_FORMAT": "json",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(SMTP_PORT),
        "ALERT_EMAIL_TO": "oncall@example.test",
        "ALERT_WEBHOOK_URL": f"http://127.0.0.1:{WEBHOOK_PORT}/alerts",
        "QUEUE_MONITOR_INTERVAL_SECONDS": "0.3",
        "QUEUE_METRICS_SAMPLE_SECONDS": str(SAMPLE_SECONDS),
        "QUEUE_ALERT_MONEY_WAITING": "0",
        "QUEUE_ALERT_MONEY_OLDEST_SECONDS": "0",
        "QUEUE_ALERT_MONEY_FAILURES_10M": "0",
        "QUEUE_ALERT_COMMUNICATION_WAITING": "0",
        "QUEUE_ALERT_BACKGROUND_WAITING": "0",
        "QUEUE_ALERT_FAILURE_RATE_MIN_JOBS": "1",
        "QUEUE_ALERT_COOLDOWN_CRITICAL_SECONDS": str(CRITICAL_COOLDOWN),
        "QUEUE_ALERT_COOLDOWN_WARNING_SECONDS": str(WARNING_COOLDOWN),
    }
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tickettoken",
            "serve",
            "queue",
            "--port",
            str(port),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for port in PORTS
    ]
    try:
        await asyncio.gather(*(_wait_ready(port) for port in PORTS))
        await asyncio.sleep(RUN_SECONDS)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            await proc.wait()
        smtp.stop()
        await runner.cleanup()

    try:
        rows = await conn.fetch(
            "SELECT queue_name || '.' || alert_type AS key, severity, created_at"
            " FROM alert_history ORDER BY created_at"
        )
        samples = await conn.fetch(
            "SELECT captured_at FROM queue_metrics WHERE queue_name = 'money' ORDER BY captured_at"
        )
    finally:
        await conn.close()

    fired: dict[str, list[float]] = {}
    for row in rows:
        assert EXPECTED[row["key"]] == row["severity"], row
        fired.setdefault(row["key"], []).append(row["created_at"].timestamp())
    assert set(fired) == set(EXPECTED), fired.keys()
    for key, times in fired.items():
        cooldown = CRITICAL_COOLDOWN if EXPECTED[key] == "critical" else WARNING_COOLDOWN
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(gap >= cooldown - 0.05 for gap in gaps), (key, gaps)  # never twice per cooldown
        # ... and again as soon as the cooldown is over (the breach lasts the whole run).
        assert len(times) >= int(RUN_SECONDS // cooldown), (key, len(times))
    # Each stored alert was sent exactly once per channel.
    assert len(hooks) == len(rows)
    assert sorted(h["id"] for h in hooks) == sorted({h["id"] for h in hooks})
    assert len(inbox.subjects) == len(rows)
    # One sample per interval across both instances.
    sample_times = [s["captured_at"].timestamp() for s in samples]
    sample_gaps = [b - a for a, b in itertools.pairwise(sample_times)]
    assert sample_times and all(gap >= SAMPLE_SECONDS - 0.1 for gap in sample_gaps), sample_gaps
    print(
        {key: len(times) for key, times in fired.items()},
        f"samples={len(sample_times)} webhook={len(hooks)} emails={len(inbox.subjects)}",
    )
