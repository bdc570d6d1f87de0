"""Fixtures of the order tests: the payment sandbox as a real process and ``run_money_jobs``
(an in-process job worker with every handler plus the event service's result callbacks)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence

import httpx
import pytest
from tests.events.reservations.sales_fixtures import (  # noqa: F401
    committed_session,
    customer_headers,
    sales_client,
)
from tests.queue.handlers.handler_processes import run_sandbox
from tests.support import make_settings

from tickettoken.kit.db import Database
from tickettoken.kit.jobs import JobRecord
from tickettoken.kit.provider_limits import create_rate_limiter
from tickettoken.queue.engine import Worker, get_job
from tickettoken.services import job_registry

FINAL = ("completed", "failed", "dead", "cancelled")
RunJobs = Callable[[Sequence[str]], Awaitable[list[JobRecord]]]


@pytest.fixture(scope="session")
def payment_sandbox() -> Iterator[tuple[str, int]]:
    """The provider sandbox as a real process: (HTTP base URL, SMTP port)."""
    with run_sandbox() as sandbox:
        yield sandbox.url, sandbox.smtp_port


@pytest.fixture
async def sales_database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, pool_min=1, pool_max=5)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def run_money_jobs(
    sales_database: Database, database_url: str, payment_sandbox: tuple[str, int]
) -> RunJobs:
    """Run the given jobs (by id) with a real worker until each is final."""
    url, smtp_port = payment_sandbox
    settings = make_settings(
        database_url=database_url,
        stripe_base_url=url,
        stripe_secret_key="sk_test_sandbox",
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
    )

    async def run(job_ids: Sequence[str]) -> list[JobRecord]:
        registry = job_registry()
        limiter = create_rate_limiter(None)
        async with httpx.AsyncClient() as http:
            worker = Worker(
                sales_database,
                queues=["money"],
                registry=registry,
                settings=settings,
                limiter=limiter,
                http=http,
                concurrency=4,
                poll_interval=0.1,
            )
            task = asyncio.create_task(worker.run())
            try:
                deadline = time.monotonic() + 90  # a loaded 2-core machine can starve the worker
                while True:
                    async with sales_database.transaction() as session:
                        records = [await get_job(session, job_id) for job_id in job_ids]
                    if all(r is not None and r.status in FINAL for r in records):
                        return [r for r in records if r is not None]
                    assert time.monotonic() < deadline, f"jobs did not finish: {records}"
                    await asyncio.sleep(0.1)
            finally:
                worker.stop()
                await asyncio.wait_for(task, 30)
                await limiter.aclose()

    return run
