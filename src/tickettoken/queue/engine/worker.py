"""The worker: claims batches, runs handlers concurrently, finishes in batches, keeps leases.

One ``QueueRunner`` per queue, all sharing one database engine per durability and one LISTEN
connection. Group commit instead of timers: while one finish transaction runs, the next batch of
outcomes accumulates, so batches grow with load and add no delay when idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import httpx
import structlog
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from tickettoken.kit.db import Database
from tickettoken.kit.jobs.catalog import NOTIFY_CHANNEL, TIERS, Tier
from tickettoken.kit.jobs.declarations import JobContext, ProviderLimiter
from tickettoken.kit.periodic import Periodic
from tickettoken.kit.settings import Settings
from tickettoken.queue.engine import store
from tickettoken.queue.engine.execution import Outcome, classify, execute, failure
from tickettoken.queue.engine.metrics import (
    JOBS_CLAIMED,
    JOBS_IN_FLIGHT,
    JOBS_PROCESSED,
    LEASES_RECLAIMED,
)
from tickettoken.queue.engine.registry import JobRegistry
from tickettoken.queue.engine.store import ClaimedJob

log = structlog.get_logger(__name__)

_frozen = False


def _freeze_start_up() -> None:
    """What start-up built (the service table's handlers and their models) lives as long as the
    worker: out of the collector's sight, a full collection walks only what the jobs hold.
    Measured (bench/sync_throughput.py): a sync of 20,000 events spent 1.6 s in 12 full
    collections, the worker's CPU per event went from 0.19 to 0.11 ms. Once per process (a
    process that runs several workers, as the tests do, pays the collection once)."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()


BATCH_SIZE = 100
FAST_JOB_SECONDS = 0.005  # jobs quicker than this are prefetched in whole batches
FLUSH_LINGER = 0.005  # seconds a finish batch may wait for more outcomes
WAKE_DEBOUNCE = 0.002  # seconds between a wake-up and the claim it causes
_OUTCOME_LABELS = {
    "completed": "completed",
    "retry": "retried",
    "failed": "failed",
    "dead": "dead",
    "release": "released",
}


def _engine(url: str, synchronous: bool, pool: int) -> AsyncEngine:
    settings = {"application_name": "tickettoken-worker"}
    if not synchronous:
        settings["synchronous_commit"] = "off"
    return create_async_engine(
        url,
        pool_size=pool,
        max_overflow=2,
        pool_pre_ping=True,
        connect_args={"server_settings": settings, "command_timeout": 30, "timeout": 5},
    )


class QueueRunner:
    """Claims, runs and finishes the jobs of one queue in this process."""

    def __init__(self, worker: Worker, tier: Tier, sessions: async_sessionmaker[AsyncSession]):
        self.worker = worker
        self.tier = tier
        self.sessions = sessions
        self.wake = asyncio.Event()
        self.ready: deque[ClaimedJob] = deque()
        self.ready_signal = asyncio.Condition()
        self.held: dict[int, ClaimedJob] = {}
        self.running: dict[int, asyncio.Task[Outcome]] = {}
        self.outcomes: list[Outcome] = []
        self.outcome_signal = asyncio.Event()
        self.write_lock = asyncio.Lock()
        self.average_duration = 0.0  # moving average of handler time, seconds
        self.slots = asyncio.Semaphore(worker.concurrency)
        self.stopping = False
        self.claiming = False
        self.claim_idle = asyncio.Event()  # set while no claim is in flight
        self.claim_idle.set()
        self.flushes_in_flight = 0

    # ---- claiming -------------------------------------------------------------------------

    def _claim_size(self) -> int:
        """How many jobs to claim now. Quick jobs are prefetched in big batches (one claim and
        one finish per batch); slow jobs only up to the free slots plus one round, so that one
        worker does not hoard jobs that idle workers could run."""
        concurrency = self.worker.concurrency
        if self.average_duration < FAST_JOB_SECONDS:
            capacity, batch = concurrency + 2 * max(concurrency, BATCH_SIZE), BATCH_SIZE
        else:
            capacity, batch = 2 * concurrency, concurrency
        return min(capacity - len(self.held), batch)

    async def claim_loop(self) -> None:
        while not self.stopping:
            want = self._claim_size()
            claimed: list[ClaimedJob] = []
            if want > 0 and (len(self.ready) < self.worker.concurrency):
                self.claiming = True
                self.claim_idle.clear()
                try:
                    async with self.sessions.begin() as session:
                        claimed = await store.claim(
                            session, self.tier, self.worker.worker_id, want, self.worker.lease
                        )
                except Exception as exc:
                    self.claiming = False
                    self.claim_idle.set()
                    log.warning("job_claim_failed", queue=self.tier.queue, error=str(exc))
                    await asyncio.sleep(self.worker.poll_interval)
                    continue
            self.claiming = False
            self.claim_idle.set()
            if claimed:
                JOBS_CLAIMED.labels(self.tier.queue).inc(len(claimed))
                for job in claimed:
                    self.held[job.id] = job
                    self.ready.append(job)
                JOBS_IN_FLIGHT.labels(self.tier.queue).set(len(self.held))
                async with self.ready_signal:
                    self.ready_signal.notify(len(claimed))
                if len(claimed) == want:
                    continue
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.worker.poll_interval):
                    await self.wake.wait()
                # Woken while caught up: let a few more enqueues land, so that a stream of
                # single-job transactions is claimed several at a time, not one per NOTIFY.
                await asyncio.sleep(WAKE_DEBOUNCE)

    # ---- running --------------------------------------------------------------------------

    async def run_loop(self) -> None:
        """Start a task per ready job while a concurrency slot is free."""
        while True:
            async with self.ready_signal:
                await self.ready_signal.wait_for(lambda: bool(self.ready) or self.stopping)
            if self.stopping:
                return
            await self.slots.acquire()
            if self.stopping or not self.ready:
                self.slots.release()
                continue
            job = self.ready.popleft()
            if len(self.ready) < self.worker.concurrency:
                self.wake.set()
            task = asyncio.create_task(self._run(job))
            self.running[job.id] = task

    async def _run(self, job: ClaimedJob) -> Outcome:
        started = time.perf_counter()
        try:
            outcome = await execute(job, self.worker.registry, self.worker.context_for(job))
        except asyncio.CancelledError:
            outcome = Outcome(job, "release")
        finally:
            elapsed = time.perf_counter() - started
            self.average_duration = 0.9 * self.average_duration + 0.1 * elapsed
            self.slots.release()
            self.running.pop(job.id, None)
        self.outcomes.append(outcome)
        self.outcome_signal.set()
        return outcome

    # ---- finishing ------------------------------------------------------------------------

    async def finish_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.outcome_signal.wait()
            self.outcome_signal.clear()
            # Linger briefly while more outcomes are about to arrive: one commit for many jobs
            # (a synchronous commit costs a WAL flush; per-job commits are what makes queues slow).
            deadline = loop.time() + FLUSH_LINGER
            while (
                len(self.outcomes) < BATCH_SIZE
                and (self.running or self.ready or self.claiming)
                and not self.stopping
                and loop.time() < deadline
            ):
                self.outcome_signal.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(deadline - loop.time()):
                        await self.outcome_signal.wait()
            await self.flush()
            if self.stopping and not self.running and not self.outcomes:
                return

    async def flush(self) -> None:
        if not self.outcomes:
            return
        batch, self.outcomes = self.outcomes, []
        self.flushes_in_flight += 1
        try:
            async with self.write_lock:
                await self._write(batch)
        except Exception as exc:
            log.warning("job_finish_failed", queue=self.tier.queue, error=str(exc))
            # Leases still held: put the outcomes back and try again shortly.
            self.outcomes = batch + self.outcomes
            await asyncio.sleep(0.5)
            self.outcome_signal.set()
            return
        finally:
            self.flushes_in_flight -= 1
        for outcome in batch:
            self.held.pop(outcome.job.id, None)
            outcome_name = _OUTCOME_LABELS[outcome.kind]
            JOBS_PROCESSED.labels(self.tier.queue, outcome.job.record.type, outcome_name).inc()
        JOBS_IN_FLIGHT.labels(self.tier.queue).set(len(self.held))
        self.wake.set()

    async def _write(self, batch: list[Outcome]) -> None:
        registry = self.worker.registry
        plain: list[Outcome] = []
        with_callbacks: list[Outcome] = []
        for outcome in batch:
            job_type = outcome.job.record.type
            has_callback = (
                outcome.kind == "completed" and job_type in registry.completed_callbacks
            ) or (outcome.kind in ("failed", "dead") and job_type in registry.failed_callbacks)
            (with_callbacks if has_callback else plain).append(outcome)
        async with self.sessions.begin() as session:
            await self._write_plain(session, plain)
            for outcome in with_callbacks:
                try:
                    async with session.begin_nested():
                        await self._write_with_callbacks(session, outcome)
                except Exception as exc:
                    _, message, after = classify(exc)
                    retry = failure(outcome.job, True, f"result callback failed: {message}", after)
                    log.warning(
                        "job_callback_failed", job_id=outcome.job.record.job_id, error=message
                    )
                    await self._write_plain(session, [retry])
                    outcome.kind = retry.kind

    async def _write_plain(self, session: AsyncSession, batch: Sequence[Outcome]) -> set[int]:
        """Write the outcomes; returns the ids of the jobs this worker still held (the others
        were taken back after their lease ran out and belong to another attempt now)."""
        wid = self.worker.worker_id
        completed = {o.job.id: o.result or {} for o in batch if o.kind == "completed"}
        retries = [(o.job.id, o.delay, o.error or "") for o in batch if o.kind == "retry"]
        failed = [(o.job.id, o.error or "") for o in batch if o.kind == "failed"]
        dead = [(o.job.id, o.error or "") for o in batch if o.kind == "dead"]
        released = [o.job.id for o in batch if o.kind == "release"]
        written: set[int] = set()
        if completed:
            written |= await store.complete(session, self.tier, wid, completed)
        if retries:
            await store.reschedule(session, self.tier, wid, retries)
        if failed:
            written |= await store.fail(session, self.tier, wid, failed, dead=False)
        if dead:
            written |= await store.fail(session, self.tier, wid, dead, dead=True)
        if released:
            await store.release(session, self.tier, wid, released)
        return written

    async def _write_with_callbacks(self, session: AsyncSession, outcome: Outcome) -> None:
        registry = self.worker.registry
        if outcome.job.id not in await self._write_plain(session, [outcome]):
            # The lease ran out and the job was taken back: its result is another attempt's to
            # apply (a repeated charge is answered from the provider's idempotency key).
            log.warning("job_result_after_lease_lost", job_id=outcome.job.record.job_id)
            return
        record = outcome.job.record
        if outcome.kind == "completed":
            for callback in registry.completed_callbacks.get(record.type, []):
                await callback(session, record, outcome.result or {})
        else:
            for failed_callback in registry.failed_callbacks.get(record.type, []):
                await failed_callback(session, record, outcome.error or "")

    # ---- leases ---------------------------------------------------------------------------

    async def lease_loop(self) -> None:
        beat = max(self.worker.lease / 3, 0.2)
        since_reclaim = 0.0
        while not self.stopping:
            await asyncio.sleep(beat)
            since_reclaim += beat
            try:
                await self.extend_leases()
                if since_reclaim >= self.worker.lease / 2:
                    since_reclaim = 0.0
                    await self.reclaim()
            except Exception as exc:
                log.warning("job_lease_upkeep_failed", queue=self.tier.queue, error=str(exc))

    async def extend_leases(self) -> None:
        pending = {o.job.id for o in self.outcomes}
        ids = [i for i in self.held if i not in pending]
        if not ids:
            return
        async with self.write_lock, self.sessions.begin() as session:
            kept = await store.heartbeat(
                session, self.tier, self.worker.worker_id, ids, self.worker.lease
            )
        lost = set(ids) - kept
        for job_id in lost:
            if job_id in self.held and job_id not in {o.job.id for o in self.outcomes}:
                log.warning("job_lease_lost", job_id=self.held[job_id].record.job_id)

    async def reclaim(self) -> int:
        async with self.sessions.begin() as session:
            requeued, dead = await store.reclaim_expired(session, self.tier)
        if requeued or dead:
            LEASES_RECLAIMED.labels(self.tier.queue).inc(requeued + dead)
            log.info("job_leases_reclaimed", queue=self.tier.queue, requeued=requeued, dead=dead)
            self.wake.set()
        return requeued + dead

    # ---- shutdown -------------------------------------------------------------------------

    async def drain(self, grace: float) -> None:
        """Stop claiming, let running jobs finish (or cancel them), give back the rest."""
        self.stopping = True
        self.wake.set()
        async with self.ready_signal:
            self.ready_signal.notify_all()
        # A claim in flight when the stop came hands its jobs over after this point: wait for
        # it, or they stay leased to a worker that never runs them until the lease lapses
        # (seen: two jobs claimed as a test's worker stopped waited out the 30 s lease).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.claim_idle.wait(), max(grace, 5.0))
        if self.running:
            _, pending = await asyncio.wait(list(self.running.values()), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        while self.ready:
            self.outcomes.append(Outcome(self.ready.popleft(), "release"))
        # Write every outcome, also those a concurrent flush of the finish loop has taken.
        deadline = asyncio.get_running_loop().time() + max(grace, 5.0)
        while (self.outcomes or self.flushes_in_flight) and (
            asyncio.get_running_loop().time() < deadline
        ):
            if self.outcomes and not self.flushes_in_flight:
                await self.flush()
            else:
                await asyncio.sleep(0.01)


class Worker:
    """A worker process's job engine: ``await worker.run()`` until ``worker.stop()``."""

    def __init__(
        self,
        database: Database,
        *,
        queues: Sequence[str],
        registry: JobRegistry,
        settings: Settings,
        limiter: ProviderLimiter,
        http: httpx.AsyncClient,
        concurrency: int = 10,
        lease: float = 30.0,
        poll_interval: float = 1.0,
        shutdown_timeout: float = 25.0,
        worker_id: str | None = None,
    ) -> None:
        unknown = [q for q in queues if q not in TIERS]
        if unknown or not queues:
            raise ValueError(f"unknown queues {unknown}; choose from {', '.join(TIERS)}")
        self.database = database
        self.queues = list(dict.fromkeys(queues))
        self.registry = registry
        self.settings = settings
        self.limiter = limiter
        self.http = http
        self.concurrency = concurrency
        self.lease = lease
        self.poll_interval = poll_interval
        self.shutdown_timeout = shutdown_timeout
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = asyncio.Event()
        self._listener: Any = None  # the LISTEN connection (asyncpg), while it is open
        self._engines: list[AsyncEngine] = []
        self.runners: dict[str, QueueRunner] = {}

    def context_for(self, job: ClaimedJob) -> JobContext:
        record = job.record
        return JobContext(
            job_id=record.job_id,
            queue=record.queue,
            type=record.type,
            payload=record.payload,
            attempt=record.attempts,
            max_attempts=record.max_attempts,
            idempotency_key=record.idempotency_key or record.job_id,
            venue_id=record.venue_id,
            database=self.database,
            http=self.http,
            settings=self.settings,
            limiter=self.limiter,
            worker_id=self.worker_id,
        )

    def stop(self) -> None:
        self._stop.set()

    async def run(self, on_ready: Callable[[], None] | None = None) -> None:
        url = self.database.url
        pool = 2 + len(self.queues)
        self._engines = [_engine(url, True, pool), _engine(url, False, pool)]
        sync_sessions = async_sessionmaker(self._engines[0], expire_on_commit=False)
        async_sessions = async_sessionmaker(self._engines[1], expire_on_commit=False)
        for queue in self.queues:
            tier = TIERS[queue]
            sessions = sync_sessions if tier.synchronous_commit else async_sessions
            self.runners[queue] = QueueRunner(self, tier, sessions)
        for runner in self.runners.values():
            recovered = await runner.reclaim()
            if recovered:
                log.info("jobs_recovered_on_start", queue=runner.tier.queue, count=recovered)
        # Reconnects every poll interval while the connection is down; failures are one line.
        listener = Periodic(
            "job-listener", self._listen, self.poll_interval, expected=lambda exc: True
        )
        listener.start()
        tasks: list[asyncio.Task[Any]] = []
        for runner in self.runners.values():
            tasks += [
                asyncio.create_task(runner.claim_loop()),
                asyncio.create_task(runner.run_loop()),
                asyncio.create_task(runner.finish_loop()),
                asyncio.create_task(runner.lease_loop()),
            ]
        _freeze_start_up()
        log.info("worker_started", worker_id=self.worker_id, queues=self.queues)
        if on_ready is not None:
            on_ready()
        try:
            await self._stop.wait()
        finally:
            await asyncio.gather(
                *(r.drain(self.shutdown_timeout) for r in self.runners.values()),
                return_exceptions=True,
            )
            await listener.stop()
            await self._close_listener()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for engine in self._engines:
                await engine.dispose()
            log.info("worker_stopped", worker_id=self.worker_id)

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        runner = self.runners.get(payload)
        if runner is not None:
            runner.wake.set()

    async def _listen(self) -> None:
        """One round of the enqueue listener: LISTEN on a connection of its own unless it is
        still open; a new connection wakes every runner (a notification may have been missed)."""
        if self._listener is not None and not self._listener.is_closed():
            return
        self._listener = None
        dsn = self.database.url.replace("postgresql+asyncpg://", "postgresql://", 1)
        conn: Any = await asyncpg.connect(dsn, timeout=5)
        try:
            await conn.add_listener(NOTIFY_CHANNEL, self._notified)
        except BaseException:
            await conn.close()
            raise
        self._listener = conn
        for runner in self.runners.values():
            runner.wake.set()

    async def _close_listener(self) -> None:
        conn, self._listener = self._listener, None
        if conn is not None and not conn.is_closed():
            await conn.close()
