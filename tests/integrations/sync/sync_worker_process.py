"""A queue worker in a process of its own, for the crash test (killed with SIGKILL mid-sync).

Argument: JSON of the test's settings values. The queue lease is short (2 s) so that the job of a
killed worker is taken again soon by the next one."""

from __future__ import annotations

import asyncio
import json
import sys

import httpx
from tests.support import make_settings

from tickettoken.kit.db import Database
from tickettoken.kit.provider_limits import create_rate_limiter
from tickettoken.queue.engine import Worker
from tickettoken.services import job_registry


async def main(values: dict[str, object]) -> None:
    settings = make_settings(**values)
    database = Database(str(values["database_url"]), pool_min=1, pool_max=4)
    limiter = create_rate_limiter(None)
    async with httpx.AsyncClient() as http:
        worker = Worker(
            database,
            queues=["communication"],
            registry=job_registry(callbacks=False),
            settings=settings,
            limiter=limiter,
            http=http,
            concurrency=1,
            lease=2.0,
            poll_interval=0.1,
        )
        await worker.run()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
