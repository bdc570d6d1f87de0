"""Fixtures for the handler tests: a database of their own, the sandbox as a real process,
``run_jobs`` (enqueue, run an in-process worker with every handler until the jobs finish) and
``run_enqueued`` (the same for jobs already enqueued, e.g. with their orders)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence

import httpx
import pytest
from tests.queue.handlers.handler_processes import Sandbox, run_sandbox
from tests.support import make_settings, migrated_scratch_database

from tickettoken.kit.db import Database
from tickettoken.kit.jobs import JobRecord, JobSpec, enqueue_many
from tickettoken.kit.provider_limits import create_rate_limiter
from tickettoken.queue.engine import JobRegistry, Worker, get_job
from tickettoken.services import job_registry

FINAL = ("completed", "failed", "dead", "cancelled")

RunJobs = Callable[..., Awaitable[list[JobRecord]]]
RunEnqueued = Callable[..., Awaitable[list[JobRecord]]]


@pytest.fixture(scope="session")
async def handlers_database_url(pg_server_url: str) -> AsyncIterator[str]:
    async with migrated_scratch_database(pg_server_url, "tt_handlers") as url:
        yield url


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with run_sandbox() as running:
        yield running


@pytest.fixture
async def hdb(handlers_database_url: str) -> AsyncIterator[Database]:
    database = Database(handlers_database_url, pool_min=1, pool_max=10)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def run_jobs(hdb: Database, run_enqueued: RunEnqueued) -> RunJobs:
    async def run(
        specs: Sequence[JobSpec], registry: JobRegistry | None = None, within: float = 30.0
    ) -> list[JobRecord]:
        async with hdb.transaction() as session:
            jobs = await enqueue_many(session, specs)
        queues = sorted({spec.queue for spec in specs})
        return await run_enqueued([job.job_id for job in jobs], queues, registry, within)

    return run


@pytest.fixture
def run_enqueued(hdb: Database, handlers_database_url: str, sandbox: Sandbox) -> RunEnqueued:
    settings = make_settings(
        database_url=handlers_database_url,
        stripe_base_url=sandbox.url,
        stripe_secret_key="sk_test_sandbox",
        sms_api_url=f"{sandbox.url}/sms",
        push_api_url=f"{sandbox.url}/push",
        minting_service_url=f"{sandbox.url}/minting",
        smtp_host="127.0.0.1",
        smtp_port=sandbox.smtp_port,
    )

    async def run(
        job_ids: Sequence[str],
        queues: Sequence[str] = ("money",),
        registry: JobRegistry | None = None,
        within: float = 30.0,
    ) -> list[JobRecord]:
        registry = registry or job_registry(callbacks=False)
        limiter = create_rate_limiter(None)
        async with httpx.AsyncClient() as http:
            worker = Worker(
                hdb,
                queues=list(queues),
                registry=registry,
                settings=settings,
                limiter=limiter,
                http=http,
                concurrency=4,
                poll_interval=0.1,
            )
            task = asyncio.create_task(worker.run())
            try:
                deadline = asyncio.get_running_loop().time() + within
                while True:
                    async with hdb.transaction() as session:
                        records = [await get_job(session, job_id) for job_id in job_ids]
                    if all(r is not None and r.status in FINAL for r in records):
                        return [r for r in records if r is not None]
                    if asyncio.get_running_loop().time() > deadline:
                        raise AssertionError(f"jobs did not finish: {records}")
                    await asyncio.sleep(0.1)
            finally:
                worker.stop()
                await asyncio.wait_for(task, 30)
                await limiter.aclose()

    return run
