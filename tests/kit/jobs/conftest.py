"""Fixtures for the enqueue side's tests: a Database on a migrated database of their own (the
worker's tests, in tests/queue/engine, have theirs)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.support import migrated_scratch_database

from tickettoken.kit.db import Database


@pytest.fixture(scope="session")
async def jobs_database_url(pg_server_url: str) -> AsyncIterator[str]:
    """A database of the engine's tests alone: their workers must not run other tests' jobs."""
    async with migrated_scratch_database(pg_server_url, "tt_jobs") as url:
        yield url


@pytest.fixture
async def db(jobs_database_url: str) -> AsyncIterator[Database]:
    database = Database(jobs_database_url, pool_min=1, pool_max=10)
    try:
        yield database
    finally:
        await database.dispose()
