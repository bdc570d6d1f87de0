"""Servers the fault tests own and break: an embedded PostgreSQL, a ``redis-server`` and service
processes whose log lines the tests read."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from tests.events.reservations.sales_catalog import Catalog, insert_catalog
from tests.support import TEST_JWT_SECRET, free_port

from tickettoken.kit.embedded_pg import EmbeddedPostgres
from tickettoken.kit.settings import to_asyncpg_url
from tickettoken.migrations.runner import upgrade_to_head

# The fault tests name their own servers; the machine's shared ones must never leak in.
_SERVER_VARIABLES = {"DATABASE_URL", "DB_HOST", "REDIS_URL", "REDIS_HOST"}


class ThrowawayPostgres:
    """An embedded server in a temporary directory, migrated, that a test may stop and start."""

    def __init__(self, directory: Path) -> None:
        self.server = EmbeddedPostgres(directory)
        self.url = ""

    def start_and_migrate(self) -> None:
        self.url = self.server.start()
        upgrade_to_head(self.url)

    def start(self) -> None:
        self.server.start()

    def stop(self, mode: str = "fast") -> None:
        self.server.stop(mode=mode)

    @property
    def dsn(self) -> str:
        """The URL in asyncpg's form, for direct connections of the test."""
        return to_asyncpg_url(self.url).replace("postgresql+asyncpg://", "postgresql://", 1)

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.dsn)


async def committed_catalog(url: str) -> Catalog:
    """A published event with one large ticket type (up to 10 a customer), committed."""
    engine = create_async_engine(url)
    try:
        async with AsyncSession(engine) as session:
            catalog = await insert_catalog(session, quantity=100_000, max_per_order=10)
            await session.commit()
        return catalog
    finally:
        await engine.dispose()


class ThrowawayRedis:
    """``redis-server --save "" --appendonly no`` on a free port: a restart comes back empty."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def restart_empty(self) -> None:
        self.stop()
        self.start()


@dataclass
class ServiceProcess:
    """``python -m tickettoken serve <service>`` on a free port, its output kept in a file."""

    service: str
    env: Mapping[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_dir: tempfile.TemporaryDirectory[str] | None = None
    log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_timeout: float = 40.0) -> None:
        self.log_dir = tempfile.TemporaryDirectory(prefix=f"tt-faults-{self.service}-")
        self.log = open(Path(self.log_dir.name) / "output.log", "ab")  # noqa: SIM115 (closed in stop)
        inherited = {k: v for k, v in os.environ.items() if k not in _SERVER_VARIABLES}
        env = {
            **inherited,
            "ENVIRONMENT": "development",
            "JWT_SECRET": TEST_JWT_SECRET,
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
            **self.env,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tickettoken", "serve", self.service, "--port", str(self.port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + ready_timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.service} exited: {self.output()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health/ready", timeout=1.0).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.service} did not become ready: {self.output()[-3000:]}")
            time.sleep(0.1)

    def output(self) -> str:
        assert self.log_dir is not None
        return (Path(self.log_dir.name) / "output.log").read_bytes().decode(errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        """The JSON log lines so far (other lines, such as tracebacks, are returned as text)."""
        records: list[dict[str, Any]] = []
        for line in self.output().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                record = {"text": line}
            records.append(record if isinstance(record, dict) else {"text": line})
        return records

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log is not None:
            self.log.close()
        if self.log_dir is not None:
            self.log_dir.cleanup()


@contextlib.contextmanager
def service_process(service: str, env: Mapping[str, str]) -> Iterator[ServiceProcess]:
    process = ServiceProcess(service, env)
    try:
        process.start()
        yield process
    finally:
        process.stop()
