"""Peer queues for bench/queue_throughput.py, run in their own venv (bench/.venvs/peers).

    peer_bench.py SYSTEM produce   -> prints JSON {"enqueue_seconds": ...} after enqueueing
    peer_bench.py SYSTEM worker    -> runs the system's worker (concurrency from BENCH_CONCURRENCY)

SYSTEM: procrastinate (PostgreSQL, BENCH_PG_DSN), saq, arq, celery (Redis, BENCH_REDIS_URL).
Queues are named by BENCH_QUEUE so a run never touches anyone else's keys.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from counting import count_one

SYSTEM, ROLE = sys.argv[1], sys.argv[2]
QUEUE = os.environ["BENCH_QUEUE"]
JOBS = int(os.environ.get("BENCH_JOBS", "0"))
PRODUCERS = int(os.environ.get("BENCH_PRODUCERS", "10"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "10"))
BATCH = int(os.environ.get("BENCH_BATCH", "1"))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")


async def produce_async(enqueue_one) -> float:  # type: ignore[no-untyped-def]
    per = [JOBS // PRODUCERS + (1 if i < JOBS % PRODUCERS else 0) for i in range(PRODUCERS)]

    async def producer(n: int) -> None:
        for _ in range(n):
            await enqueue_one()

    started = time.time()
    await asyncio.gather(*(producer(n) for n in per))
    return started


async def produce_batches(enqueue_batch) -> float:  # type: ignore[no-untyped-def]
    per = [JOBS // PRODUCERS + (1 if i < JOBS % PRODUCERS else 0) for i in range(PRODUCERS)]

    async def producer(n: int) -> None:
        while n > 0:
            size = min(BATCH, n)
            n -= size
            await enqueue_batch(size)

    started = time.time()
    await asyncio.gather(*(producer(n) for n in per))
    return started


# ---- procrastinate --------------------------------------------------------------------------


def procrastinate_app():  # type: ignore[no-untyped-def]
    import procrastinate

    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=os.environ["BENCH_PG_DSN"])
    )

    @app.task(name="noop", queue=QUEUE)
    async def noop() -> None:
        count_one()

    return app, noop


async def procrastinate_main() -> None:
    app, noop = procrastinate_app()
    async with app.open_async():
        if ROLE == "schema":
            await app.schema_manager.apply_schema_async()
        elif ROLE == "worker":
            await app.run_worker_async(queues=[QUEUE], concurrency=CONCURRENCY, wait=True)
        elif ROLE == "warm":
            await noop.defer_async()
        elif BATCH > 1:
            started = await produce_batches(lambda size: noop.batch_defer_async(*[{}] * size))
            print(json.dumps({"started": started, "enqueued": time.time()}))
        else:
            started = await produce_async(noop.defer_async)
            print(json.dumps({"started": started, "enqueued": time.time()}))


# ---- saq ------------------------------------------------------------------------------------


async def saq_noop(ctx) -> None:  # type: ignore[no-untyped-def]
    count_one()


async def saq_main() -> None:
    from saq import Queue, Worker

    queue = Queue.from_url(REDIS_URL, name=QUEUE)
    if ROLE == "worker":
        worker = Worker(queue, functions=[saq_noop], concurrency=CONCURRENCY)
        await worker.start()
        return
    await queue.connect()
    if ROLE == "warm":
        await queue.enqueue("saq_noop")
    else:
        started = await produce_async(lambda: queue.enqueue("saq_noop"))
        print(json.dumps({"started": started, "enqueued": time.time()}))
    await queue.disconnect()


# ---- arq ------------------------------------------------------------------------------------


async def arq_noop(ctx) -> None:  # type: ignore[no-untyped-def]
    count_one()


async def arq_main() -> None:
    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.worker import Worker

    settings = RedisSettings.from_dsn(REDIS_URL)
    if ROLE == "worker":
        worker = Worker(
            functions=[arq_noop],
            redis_settings=settings,
            queue_name=QUEUE,
            max_jobs=CONCURRENCY,
            keep_result=0,
            handle_signals=True,
        )
        await worker.async_run()
        return
    pool = await create_pool(settings, default_queue_name=QUEUE)
    if ROLE == "warm":
        await pool.enqueue_job("arq_noop")
    else:
        started = await produce_async(lambda: pool.enqueue_job("arq_noop"))
        print(json.dumps({"started": started, "enqueued": time.time()}))
    await pool.aclose()


# ---- celery ---------------------------------------------------------------------------------


def celery_app():  # type: ignore[no-untyped-def]
    from celery import Celery

    app = Celery("bench", broker=REDIS_URL)
    app.conf.update(
        task_ignore_result=True,
        task_default_queue=QUEUE,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
    )

    @app.task(name="noop")
    def noop() -> None:
        count_one()

    return app, noop


def celery_main() -> None:
    app, noop = celery_app()
    if ROLE == "worker":
        app.worker_main(
            [
                "worker",
                "-P",
                "threads",
                "-c",
                str(CONCURRENCY),
                "-Q",
                QUEUE,
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "WARNING",
            ]
        )
        return
    if ROLE == "warm":
        noop.apply_async()
        return
    per = [JOBS // PRODUCERS + (1 if i < JOBS % PRODUCERS else 0) for i in range(PRODUCERS)]
    barrier = threading.Barrier(PRODUCERS + 1)

    def producer(n: int) -> None:
        barrier.wait()
        for _ in range(n):
            noop.apply_async()

    with ThreadPoolExecutor(PRODUCERS) as pool:
        futures = [pool.submit(producer, n) for n in per]
        started = time.time()
        barrier.wait()
        for future in futures:
            future.result()
    print(json.dumps({"started": started, "enqueued": time.time()}))


if __name__ == "__main__":
    if SYSTEM == "celery":
        celery_main()
    else:
        main = {"procrastinate": procrastinate_main, "saq": saq_main, "arq": arq_main}[SYSTEM]
        asyncio.run(main())
