"""The queue worker process: the engine's ``Worker`` with every handler, the shared provider
limiter, one HTTP client, signal handling and an optional Prometheus endpoint.

Plugins (modules imported before start) let other services add handlers or result callbacks to
``default_registry`` (e.g. the event service marking orders paid) without the queue service
importing them.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
from collections.abc import Sequence

import httpx
import structlog

from tickettoken.kit.db import Database
from tickettoken.kit.jobs import Worker, default_registry
from tickettoken.kit.settings import Settings
from tickettoken.queue.handlers import register_all
from tickettoken.queue.ratelimit import build_rate_limiter

log = structlog.get_logger(__name__)

PLUGINS_ENV = "TICKETTOKEN_JOB_PLUGINS"


def load_plugins(modules: Sequence[str]) -> list[str]:
    """Import plugin modules (given, plus ``TICKETTOKEN_JOB_PLUGINS``); importing registers."""
    names = [*modules, *filter(None, os.environ.get(PLUGINS_ENV, "").split(","))]
    loaded = []
    for name in dict.fromkeys(n.strip() for n in names):
        importlib.import_module(name)
        loaded.append(name)
    return loaded


async def run_worker(
    settings: Settings,
    database_url: str,
    *,
    queues: Sequence[str],
    concurrency: int = 10,
    lease: float = 30.0,
    poll_interval: float = 1.0,
    shutdown_timeout: float = 25.0,
    plugins: Sequence[str] = (),
) -> None:
    """Run until SIGTERM/SIGINT, then finish or release the running jobs and return."""
    registry = register_all(default_registry)
    loaded = load_plugins(plugins)
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
            log.info("worker_plugins", plugins=loaded, handlers=sorted(registry.handlers))
            await worker.run()
    finally:
        await limiter.aclose()
        await database.dispose()
