"""The queue worker process: the engine's ``Worker`` with the given job registry, the shared
provider limiter, one HTTP client, signal handling.

``tickettoken worker`` passes the registry of every service (``tickettoken.services.job_registry``):
every handler and every result callback, whatever the environment. A worker that would claim a
job type it has no handler for refuses to start instead of failing those jobs one by one.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence

import httpx
import structlog

from tickettoken.kit.db import Database
from tickettoken.kit.provider_limits import build_rate_limiter
from tickettoken.kit.settings import Settings
from tickettoken.queue.engine import JobRegistry, Worker

log = structlog.get_logger(__name__)


class MissingHandlers(Exception):
    """The worker was asked to claim queues holding job types it has no handler for."""

    def __init__(self, job_types: Sequence[str], queues: Sequence[str]) -> None:
        super().__init__(
            f"no handler for job types {', '.join(job_types)} of queues {', '.join(queues)}:"
            " declare them in tickettoken.services"
        )
        self.job_types = list(job_types)


async def run_worker(
    settings: Settings,
    database_url: str,
    *,
    registry: JobRegistry,
    queues: Sequence[str],
    concurrency: int = 10,
    lease: float = 30.0,
    poll_interval: float = 1.0,
    shutdown_timeout: float = 25.0,
) -> None:
    """Run until SIGTERM/SIGINT, then finish or release the running jobs and return."""
    missing = registry.missing_handlers(queues)
    if missing:
        raise MissingHandlers(missing, queues)
    database = Database(database_url, pool_min=1, pool_max=max(4, min(concurrency, 20)))
    limiter = await build_rate_limiter(settings, database_url=database_url)
    limits = httpx.Limits(max_connections=max(20, concurrency * 2))
    try:
        async with httpx.AsyncClient(timeout=30.0, limits=limits) as http:
            worker = Worker(
                database,
                queues=queues,
                registry=registry,
                settings=settings,
                limiter=limiter,
                http=http,
                concurrency=concurrency,
                lease=lease,
                poll_interval=poll_interval,
                shutdown_timeout=shutdown_timeout,
            )
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, worker.stop)
            log.info(
                "worker_jobs",
                handlers=sorted(registry.handlers),
                completed_callbacks=sorted(registry.completed_callbacks),
                failed_callbacks=sorted(registry.failed_callbacks),
            )
            await worker.run()
    finally:
        await limiter.aclose()
        await database.dispose()
