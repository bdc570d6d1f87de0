"""Fixtures for the enqueue side's tests: a Database on a migrated database of their own (the
worker's tests, in tests/queue/engine, have theirs)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from tests.conftest import create_scratch_database, drop_scratch_database

from tickettoken.kit.db import Database
from tickettoken.migrations.runner import upgrade_to_head


@pytest.fixture(scope="session")
async def jobs_database_url(pg_server_url: str) -> AsyncIterator[str]:
    """A database of the engine's tests alone: their workers must not run other tests' jobs."""
    url = await create_scratch_database(pg_server_url, prefix="tt_jobs")
    try:
        await asyncio.to_thread(upgrade_to_head, url)
        yield url
    finally:
        await drop_scratch_database(pg_server_url, url)


@pytest.fixture
async def db(jobs_database_url: str) -> AsyncIterator[Database]:
    database = Database(jobs_database_url, pool_min=1, pool_max=10)
    try:
        yield database
    finally:
        await database.dispose()
