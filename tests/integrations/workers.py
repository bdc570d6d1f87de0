"""A real queue worker over the communication queue, for the integration tests that need their
sync or webhook jobs run: started, left running while the test waits for an outcome, then
stopped and joined. Five tests wrote this same start/stop around their own wait."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from tickettoken.kit.db import Database
from tickettoken.kit.provider_limits import create_rate_limiter
from tickettoken.kit.settings import Settings
from tickettoken.queue.engine import Worker
from tickettoken.queue.engine.registry import JobRegistry
from tickettoken.services import job_registry


@asynccontextmanager
async def communication_worker(
    database: Database,
    settings: Settings,
    *,
    concurrency: int = 2,
    poll_interval: float = 0.05,
    lease: float = 30.0,
    registry: JobRegistry | None = None,
) -> AsyncIterator[Worker]:
    """Run a worker with every handler of the service table (result callbacks off unless a
    ``registry`` is given) until the block ends; its in-process limiter is closed after."""
    limiter = create_rate_limiter(None)
    async with httpx.AsyncClient() as http:
        worker = Worker(
            database,
            queues=["communication"],
            registry=registry or job_registry(callbacks=False),
            settings=settings,
            limiter=limiter,
            http=http,
            concurrency=concurrency,
            lease=lease,
            poll_interval=poll_interval,
        )
        task = asyncio.create_task(worker.run())
        try:
            yield worker
        finally:
            worker.stop()
            await asyncio.wait_for(task, 30)
            await limiter.aclose()
