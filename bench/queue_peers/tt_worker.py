"""``python tt_worker.py --queues Q --concurrency N``: ``tickettoken worker`` with the no-op job
counted for the benchmark (every other handler as the service table declares it)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from counting import count_one

from tickettoken.kit.database_url import resolve_database_url
from tickettoken.kit.jobs import JobContext
from tickettoken.kit.logging import configure_logging
from tickettoken.kit.settings import get_settings
from tickettoken.queue.worker import run_worker
from tickettoken.services import job_registry


async def counted_noop(ctx: JobContext) -> dict[str, Any]:
    count_one()
    return {}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queues", required=True)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    registry = job_registry()
    registry.register("noop", counted_noop, timeout=10)
    settings = get_settings()
    configure_logging(settings.log_level, settings.effective_log_format, service="queue-worker")
    asyncio.run(
        run_worker(
            settings,
            resolve_database_url(settings),
            registry=registry,
            queues=args.queues.split(","),
            concurrency=args.concurrency,
        )
    )


if __name__ == "__main__":
    main()
