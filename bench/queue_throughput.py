"""Queue throughput: the engine's three tiers vs procrastinate, saq, arq and Celery, one run.

5,000 no-op jobs per system (``--jobs``), 10 concurrent producers, one worker process with
concurrency 10, already started and warmed up by one job. Two ways of enqueueing:

- per-call: one job per call, each committed on its own (the engine: ``JobClient.enqueue``;
  ``--session-per-call``: a SQLAlchemy session transaction per job instead);
- bulk: 100 jobs per call where the system has a bulk call (the engine: ``enqueue_many`` in a
  session; procrastinate: ``batch_defer_async``); saq, arq and Celery have none.

Measured per system and way:

- enqueue jobs/s: jobs / (time the producers took);
- end-to-end jobs/s: jobs / (first enqueue -> the worker ran the last job), while the worker
  runs during the enqueueing.

Every system's no-op task counts itself in the worker's memory (bench/queue_peers/counting.py)
and the last one writes a marker file: no per-job I/O is added to anyone. Peers run in their own
venv (``bench/.venvs/peers``: procrastinate, saq, arq + redis<6, celery). Redis: the given URL
(default DB 11); queue names are unique per run and only this run's keys are deleted (no FLUSHDB).
Rounds alternate systems; medians are printed with the ratios the issue sets as targets:
tier 1 >= 5x procrastinate, tier 3 >= 2x the fastest Redis-based peer (end-to-end).

    .venv/bin/python bench/queue_throughput.py [--jobs 5000] [--concurrency 10] [--rounds 3]
        [--server-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--redis-url redis://127.0.0.1:6379/11] [--systems tier1,tier2,tier3,procrastinate,...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parents[1]
PEERS_DIR = ROOT / "bench" / "queue_peers"
PEER_PYTHON = ROOT / "bench" / ".venvs" / "peers" / "bin" / "python"
sys.path.insert(0, str(ROOT / "src"))

from tickettoken.kit.db import Database  # noqa: E402
from tickettoken.kit.jobs import JobClient, JobSpec, enqueue, enqueue_many  # noqa: E402
from tickettoken.migrations.runner import upgrade_to_head  # noqa: E402

TIERS = {"tier1": "money", "tier2": "communication", "tier3": "background"}
PEERS = ("procrastinate", "saq", "arq", "celery")
REDIS_PEERS = ("saq", "arq", "celery")
_SCHEMA_APPLIED: set[str | None] = set()
BULK_PEERS = ("procrastinate",)  # the only peer with a bulk enqueue call


@dataclass
class Result:
    enqueue: float
    end_to_end: float


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _with_db(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


async def _create_db(server: str, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(_dsn(server))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return _with_db(_dsn(server), name)


async def _drop_db(server: str, url: str) -> None:
    conn = await asyncpg.connect(_dsn(server))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


def _read_marker(path: str) -> float | None:
    try:
        return float(Path(path).read_text())
    except FileNotFoundError:
        return None


async def _wait_marker(path: str, within: float) -> float:
    deadline = time.monotonic() + within
    while (value := _read_marker(path)) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no marker {path} after {within}s")
        await asyncio.sleep(0.005)
    return value


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _env(marker: str, jobs: int, concurrency: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env.update(
        BENCH_MARKER=marker,
        BENCH_TOTAL=str(jobs + 1),
        BENCH_JOBS=str(jobs),
        BENCH_CONCURRENCY=str(concurrency),
        BENCH_PRODUCERS="10",
        LOG_LEVEL="WARNING",
        ENVIRONMENT="development",
        **extra,
    )
    return env


def _engine_worker(
    queue: str, concurrency: int, env: dict[str, str], workdir: str
) -> subprocess.Popen[bytes]:
    command = [sys.executable, str(PEERS_DIR / "tt_worker.py"), "--queues", queue]
    command += ["--concurrency", str(concurrency)]
    return subprocess.Popen(
        command, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def run_engine(
    queue: str,
    url: str,
    jobs: int,
    concurrency: int,
    workdir: str,
    batch: int,
    session_per_call: bool = False,
) -> Result:
    """Per call: ``JobClient.enqueue`` (each call its own transaction, like the peers' calls),
    or with ``session_per_call`` a SQLAlchemy session transaction per job; bulk: ``enqueue_many``
    of ``batch`` jobs in a session."""
    marker = os.path.join(workdir, f"tt-{uuid.uuid4().hex}")
    env = _env(
        marker,
        jobs,
        concurrency,
        DATABASE_URL=url,
        PYTHONPATH=f"{PEERS_DIR}{os.pathsep}{ROOT / 'src'}",
    )
    worker = _engine_worker(queue, concurrency, env, workdir)
    database = Database(
        url.replace("postgresql://", "postgresql+asyncpg://", 1), pool_min=10, pool_max=12
    )
    client = await JobClient.connect(url, max_size=10)
    try:
        async with database.transaction() as session:
            await enqueue(session, queue=queue, type="noop", payload={})
        await _wait_marker(marker + ".warm", 60)

        async def producer(n: int) -> None:
            while n > 0:
                size = min(batch, n)
                n -= size
                if size == 1 and not session_per_call:
                    await client.enqueue(queue=queue, type="noop", payload={})
                    continue
                async with database.transaction() as session:
                    if size == 1:
                        await enqueue(session, queue=queue, type="noop", payload={})
                    else:
                        await enqueue_many(session, [JobSpec(queue, "noop")] * size)

        per = [jobs // 10 + (1 if i < jobs % 10 else 0) for i in range(10)]
        started = time.time()
        await asyncio.gather(*(producer(n) for n in per))
        enqueued = time.time()
        done = await _wait_marker(marker + ".done", 600)
    finally:
        _stop(worker)
        await client.close()
        await database.dispose()
    return Result(jobs / (enqueued - started), jobs / (done - started))


def _peer(system: str, role: str, env: dict[str, str], workdir: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(PEER_PYTHON), str(PEERS_DIR / "peer_bench.py"), system, role],
        cwd=workdir,
        env={**env, "PYTHONPATH": str(PEERS_DIR)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


async def run_peer(
    system: str,
    jobs: int,
    concurrency: int,
    workdir: str,
    redis_url: str,
    pg_dsn: str | None,
    batch: int,
) -> Result:
    marker = os.path.join(workdir, f"{system}-{uuid.uuid4().hex}")
    queue = f"ttbench-{uuid.uuid4().hex[:10]}"
    env = _env(
        marker,
        jobs,
        concurrency,
        BENCH_QUEUE=queue,
        BENCH_REDIS_URL=redis_url,
        BENCH_PG_DSN=pg_dsn or "",
        BENCH_BATCH=str(batch),
    )
    if system == "procrastinate" and pg_dsn not in _SCHEMA_APPLIED:
        schema = _peer(system, "schema", env, workdir)
        if await asyncio.to_thread(schema.wait, 60) != 0:
            raise RuntimeError("procrastinate schema failed")
        _SCHEMA_APPLIED.add(pg_dsn)
    worker = _peer(system, "worker", env, workdir)
    try:
        warm = _peer(system, "warm", env, workdir)
        if await asyncio.to_thread(warm.wait, 60) != 0:
            raise RuntimeError(f"{system} warm-up enqueue failed")
        await _wait_marker(marker + ".warm", 60)
        producer = _peer(system, "produce", env, workdir)
        out, _ = await asyncio.to_thread(producer.communicate, None, 600)
        if producer.returncode != 0:
            raise RuntimeError(f"{system} producer failed")
        times = json.loads(out.decode().strip().splitlines()[-1])
        done = await _wait_marker(marker + ".done", 600)
    finally:
        _stop(worker)
        if system in REDIS_PEERS:
            await _delete_keys(redis_url, queue)
    return Result(jobs / (times["enqueued"] - times["started"]), jobs / (done - times["started"]))


async def _delete_keys(redis_url: str, queue: str) -> None:
    """Delete only this run's keys (never FLUSHDB: the Redis is shared)."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        for pattern in (f"*{queue}*", "arq:job:*", "arq:in-progress:*", "arq:retry:*"):
            async for key in client.scan_iter(match=pattern, count=1000):
                await client.delete(key)
    finally:
        await client.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=100, help="jobs per bulk enqueue call")
    parser.add_argument(
        "--session-per-call",
        action="store_true",
        help="per-call enqueue through a SQLAlchemy session per job instead of JobClient",
    )
    parser.add_argument(
        "--server-url",
        default=os.environ.get("BENCH_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--systems", default=",".join([*TIERS, *PEERS]))
    args = parser.parse_args()
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if any(s in PEERS for s in systems) and not PEER_PYTHON.exists():
        raise SystemExit(
            "peers need their venv: python3 -m venv bench/.venvs/peers && bench/.venvs/peers/"
            "bin/pip install 'procrastinate[psycopg]' saq arq 'redis>=5,<6' celery psycopg-binary"
        )
    engine_db = await _create_db(args.server_url, "tt_bench_queue")
    peer_db = await _create_db(args.server_url, "tt_bench_procrastinate")
    results: dict[tuple[str, str], list[Result]] = {}
    try:
        await asyncio.to_thread(upgrade_to_head, engine_db)
        with tempfile.TemporaryDirectory(prefix="tt-bench-") as workdir:
            for round_number in range(1, args.rounds + 1):
                for mode, batch in (("per-call", 1), ("bulk", args.batch)):
                    for system in systems:
                        if system in TIERS:
                            result = await run_engine(
                                TIERS[system],
                                engine_db,
                                args.jobs,
                                args.concurrency,
                                workdir,
                                batch,
                            )
                        elif mode == "bulk" and system not in BULK_PEERS:
                            continue  # no bulk enqueue API: its per-call numbers stand
                        else:
                            result = await run_peer(
                                system,
                                args.jobs,
                                args.concurrency,
                                workdir,
                                args.redis_url,
                                _dsn(peer_db),
                                batch,
                            )
                        results.setdefault((system, mode), []).append(result)
                        print(
                            f"round {round_number} {mode:8} {system:14} enqueue "
                            f"{result.enqueue:9.0f}/s  end-to-end {result.end_to_end:9.0f}/s",
                            flush=True,
                        )
    finally:
        await _drop_db(args.server_url, engine_db)
        await _drop_db(args.server_url, peer_db)
    report(results, systems, args)


def report(
    results: dict[tuple[str, str], list[Result]], systems: list[str], args: argparse.Namespace
) -> None:
    medians = {
        key: Result(
            statistics.median(r.enqueue for r in rs), statistics.median(r.end_to_end for r in rs)
        )
        for key, rs in results.items()
    }

    def cell(system: str, mode: str, field: str) -> str:
        m = medians.get((system, mode))
        return f"{getattr(m, field):,.0f}" if m else "no bulk API"

    def best(system: str) -> float:
        return max(m.end_to_end for (s, _), m in medians.items() if s == system)

    print(
        f"\n{args.jobs} no-op jobs, 10 producers, worker concurrency {args.concurrency}, "
        f"median of {args.rounds} rounds; bulk = {args.batch} jobs per enqueue call"
    )
    print(
        "| system | enqueue/s per-call | end-to-end/s per-call | enqueue/s bulk |"
        " end-to-end/s bulk |\n|---|---:|---:|---:|---:|"
    )
    for system in systems:
        label = f"{system} ({TIERS[system]})" if system in TIERS else system
        print(
            f"| {label} | {cell(system, 'per-call', 'enqueue')} |"
            f" {cell(system, 'per-call', 'end_to_end')} | {cell(system, 'bulk', 'enqueue')} |"
            f" {cell(system, 'bulk', 'end_to_end')} |"
        )
    present = {s for s, _ in medians}

    def ratio(ours: str, peer: str, mode: str | None) -> float:
        if mode is None:
            return best(ours) / best(peer)
        return medians[(ours, mode)].end_to_end / medians[(peer, mode)].end_to_end

    if {"tier1", "procrastinate"} <= present:
        print(
            f"\ntier 1 / procrastinate end-to-end: best {ratio('tier1', 'procrastinate', None):.1f}"
            "x"
            f" (target >= 5x), per-call {ratio('tier1', 'procrastinate', 'per-call'):.1f}x"
        )
    redis_peers = [p for p in REDIS_PEERS if p in present]
    if "tier3" in present and redis_peers:
        top = max(redis_peers, key=best)
        print(
            f"tier 3 / fastest Redis peer ({top}) end-to-end: best {ratio('tier3', top, None):.1f}x"
            f" (target >= 2x), per-call {ratio('tier3', top, 'per-call'):.1f}x"
        )


if __name__ == "__main__":
    asyncio.run(main())
