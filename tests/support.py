"""Helpers for tests: scratch databases, test settings, in-process app clients, auth headers.

Import them as ``from tests.support import ...`` (fixtures live in ``tests/conftest.py``).
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from fastapi import FastAPI

from tickettoken.kit.settings import Settings, to_asyncpg_url
from tickettoken.migrations.runner import upgrade_to_head

TEST_JWT_SECRET = "test-only-" + uuid.uuid4().hex + uuid.uuid4().hex


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A port nobody listens on right now (the kernel's pick), for a test's own server."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def _asyncpg_dsn(url: str) -> str:
    return to_asyncpg_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


async def create_scratch_database(server_url: str, prefix: str = "tt_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(_asyncpg_dsn(server_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return _with_database(server_url, name)


async def drop_scratch_database(server_url: str, database_url: str) -> None:
    name = urlsplit(database_url).path.lstrip("/")
    conn = await asyncpg.connect(_asyncpg_dsn(server_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@asynccontextmanager
async def migrated_scratch_database(server_url: str, prefix: str) -> AsyncIterator[str]:
    """A scratch database at the schema's head for one group of tests, dropped afterwards (tests
    whose workers claim jobs need one of their own, or they would run other tests' jobs)."""
    url = await create_scratch_database(server_url, prefix=prefix)
    try:
        await asyncio.to_thread(upgrade_to_head, url)
        yield url
    finally:
        await drop_scratch_database(server_url, url)


def make_settings(**overrides: object) -> Settings:
    """Settings for tests: development, a random JWT secret, nothing read from a .env file."""
    values: dict[str, object] = {
        "environment": "development",
        "jwt_secret": TEST_JWT_SECRET,
        "log_format": "json",
        "log_level": "WARNING",
        # The sync scheduler would enqueue syncs of other tests' connections behind their
        # back; its own tests turn it on (tests/integrations/sync/test_scheduler.py).
        "integration_sync_schedule_seconds": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def running_app(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run an app's lifespan and give an HTTP client that talks to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def auth_header(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
