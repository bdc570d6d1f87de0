"""`tickettoken up`: four healthy services within 60 s, supervised restarts, clean shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest
from tests.e2e.conftest import start_platform, stop_platform
from tests.support import create_scratch_database, drop_scratch_database

SERVICES = ["gateway", "event", "integration", "queue"]
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_up_with_a_configured_database_restarts_a_killed_service(
    pg_server_url: str, workdir: Path
) -> None:
    database_url = asyncio.run(create_scratch_database(pg_server_url, prefix="tt_e2e"))
    platform = start_platform({"DATABASE_URL": database_url}, port_offset=21000, workdir=workdir)
    try:
        assert platform.wait_healthy(SERVICES, timeout=60) < 60
        for service in SERVICES[1:]:
            ready = httpx.get(platform.url(service) + "/health/ready", timeout=5)
            assert ready.status_code == 200, ready.text

        victim = platform.service_pid("event")
        os.kill(victim, signal.SIGKILL)
        start = time.monotonic()
        with httpx.Client(timeout=0.5) as client:
            while True:
                try:
                    if client.get(platform.url("event") + "/health").status_code == 200 and (
                        platform.service_pid("event") != victim
                    ):
                        break
                except (httpx.HTTPError, LookupError):
                    pass
                assert time.monotonic() - start < 5, "event service not back within 5 s"
                time.sleep(0.05)
    finally:
        stop_platform(platform)
        asyncio.run(drop_scratch_database(pg_server_url, database_url))
    assert platform.process.returncode == 0
    leftovers = [
        p
        for p in psutil.process_iter(["cmdline"])
        if p.info["cmdline"]
        and "--port-offset" not in p.info["cmdline"]
        and str(3003 + 21000) in p.info["cmdline"]
    ]
    assert leftovers == [], "Ctrl-C left service processes behind"


def test_up_without_a_database_uses_the_embedded_postgres(workdir: Path) -> None:
    platform = start_platform(
        {"EMBEDDED_PG_DIR": str(workdir / "pg")}, port_offset=22000, workdir=workdir
    )
    try:
        assert platform.wait_healthy(SERVICES, timeout=60) < 60
        ready = httpx.get(platform.url("event") + "/health/ready", timeout=5)
        assert ready.status_code == 200, ready.text
    finally:
        stop_platform(platform)
    assert platform.process.returncode == 0
    # Ctrl-C also stopped the embedded server it started.
    assert not (workdir / "pg" / "data" / "postmaster.pid").exists()
