"""Fixtures for the job engine's tests: a Database on the session's migrated database and an
in-process worker running a registry of test handlers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from tests.support import make_settings, migrated_scratch_database

from tickettoken.kit.db import Database
from tickettoken.queue.engine import JobRegistry, NoProviderLimits, Worker


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


@pytest.fixture
def start_worker(
    db: Database, jobs_database_url: str
) -> Callable[..., contextlib.AbstractAsyncContextManager[Worker]]:
    @contextlib.asynccontextmanager
    async def start(
        registry: JobRegistry, queues: list[str], **options: Any
    ) -> AsyncIterator[Worker]:
        async with httpx.AsyncClient() as http:
            worker = Worker(
                db,
                queues=queues,
                registry=registry,
                settings=make_settings(database_url=jobs_database_url),
                limiter=NoProviderLimits(),
                http=http,
                **options,
            )
            ready = asyncio.Event()
            task = asyncio.create_task(worker.run(on_ready=ready.set))
            await asyncio.wait_for(ready.wait(), 10)
            try:
                yield worker
            finally:
                worker.stop()
                await asyncio.wait_for(task, 30)

    return start
