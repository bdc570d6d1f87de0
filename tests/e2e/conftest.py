"""Starts ``tickettoken up`` as a real process tree for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from tests.support import TEST_JWT_SECRET

from tickettoken.services import SERVICES

_STRIPPED_ENV = (
    *("DATABASE_URL", "DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD", "DB_NAME"),
    *("REDIS_URL", "REDIS_HOST", "PORT", "EMBEDDED_PG_DIR"),
    *(f"{name.upper()}_SERVICE_URL" for name in SERVICES),
)


@dataclass
class RunningPlatform:
    process: subprocess.Popen[bytes]
    port_offset: int
    log_path: Path

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{SERVICES[service].port + self.port_offset}"

    def service_pid(self, service: str) -> int:
        for child in psutil.Process(self.process.pid).children(recursive=False):
            cmdline = child.cmdline()
            if "serve" in cmdline and service in cmdline:
                return child.pid
        raise LookupError(f"no process for {service}")

    def worker_pid(self) -> int:
        """The queue worker's pid (``up`` runs ``tickettoken worker``, restarted when it dies)."""
        for child in psutil.Process(self.process.pid).children(recursive=False):
            try:  # a worker just killed stays a zombie until the supervisor reaps it
                if child.cmdline()[-1:] == ["worker"]:
                    return child.pid
            except (psutil.ZombieProcess, psutil.NoSuchProcess):
                continue
        raise LookupError("no worker process")

    def wait_healthy(self, services: list[str], timeout: float) -> float:
        """Seconds until every service's /health answered 200 (raises on timeout)."""
        start = time.monotonic()
        pending = set(services)
        with httpx.Client(timeout=1.0) as client:
            while pending:
                if self.process.poll() is not None:
                    raise AssertionError(f"up exited early:\n{self.log_path.read_text()[-4000:]}")
                if time.monotonic() - start > timeout:
                    raise AssertionError(
                        f"not healthy after {timeout}s: {sorted(pending)}\n"
                        f"{self.log_path.read_text()[-4000:]}"
                    )
                for service in list(pending):
                    try:
                        if client.get(self.url(service) + "/health").status_code == 200:
                            pending.discard(service)
                    except httpx.HTTPError:
                        pass
                time.sleep(0.05)
        return time.monotonic() - start


def start_platform(
    env_overrides: dict[str, str], port_offset: int, workdir: Path, *up_args: str
) -> RunningPlatform:
    env = {k: v for k, v in os.environ.items() if k not in _STRIPPED_ENV}
    env.update(
        {
            "TICKETTOKEN_HOME": str(workdir / "home"),
            "JWT_SECRET": TEST_JWT_SECRET,
            "LOG_LEVEL": "WARNING",
        }
    )
    env.update(env_overrides)
    log_path = workdir / "up.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "tickettoken", "up", "--port-offset", str(port_offset), *up_args],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return RunningPlatform(process, port_offset, log_path)


def stop_platform(platform: RunningPlatform) -> None:
    if platform.process.poll() is None:
        platform.process.send_signal(signal.SIGINT)
        try:
            platform.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(platform.process.pid, signal.SIGKILL)
            platform.process.wait()


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="tt-e2e-") as tmp:
        yield Path(tmp)
