"""``RateLimiter``: bounded waits for a token and a leased concurrency slot, penalties, resets;
``create_rate_limiter`` / ``build_rate_limiter`` pick the backend."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import time
import uuid
from collections.abc import AsyncIterator, Mapping

from redis.asyncio import Redis
from redis.exceptions import RedisError

from tickettoken.kit.db import Database
from tickettoken.kit.kv import redis_connection_options
from tickettoken.kit.periodic import Periodic
from tickettoken.kit.provider_limits.limits import (
    DEFAULT_LIMITS,
    DEFAULT_TRANSIT_ALLOWANCE,
    GROUPS,
    LimiterBackend,
    LimiterState,
    LimiterStoreError,
    ProviderLimit,
    RateLimiterUnavailable,
    RateLimitTimeout,
    UnknownProvider,
)
from tickettoken.kit.provider_limits.memory_backend import MemoryBackend
from tickettoken.kit.provider_limits.postgres_backend import PostgresBackend
from tickettoken.kit.provider_limits.redis_backend import RedisBackend
from tickettoken.kit.settings import Settings

# What a store raises when it cannot be reached: retried until the deadline, never fatal to a
# call for bookkeeping (counters, release, renewal).
STORE_ERRORS: tuple[type[Exception], ...] = (RedisError, LimiterStoreError)


SLOT_LEASE_SECONDS = 5.0
"""How long a dead holder's concurrency slot stays taken (a live one renews it every third of
this). Short, because the limits are shared: a killed worker's slots are everyone's until then."""


def _window(name: str) -> str:
    """The store name of a limiter's sliding-window places."""
    return f"{name}#window"


class RateLimiter:
    """The limiter handlers use. Create one per process with ``create_rate_limiter``."""

    def __init__(
        self,
        backend: LimiterBackend,
        *,
        limits: Mapping[str, ProviderLimit] | None = None,
        groups: Mapping[str, str] | None = None,
        default_timeout: float = 30.0,
        lease_seconds: float = SLOT_LEASE_SECONDS,
        transit_allowance: float = DEFAULT_TRANSIT_ALLOWANCE,
    ) -> None:
        self.backend = backend
        self.transit_allowance = transit_allowance
        self.limits = dict(DEFAULT_LIMITS if limits is None else limits)
        self.groups = dict(GROUPS if groups is None else groups)
        self.default_timeout = default_timeout
        self.lease_ms = int(lease_seconds * 1000)

    def resolve(self, provider: str) -> tuple[str, ProviderLimit]:
        """The shared limiter's name and limits for a provider or group member.

        ``provider:account`` (e.g. ``quickbooks:<realm id>``) is a limiter of its own with the
        provider's limits, for providers that count per account rather than per application."""
        base, sep, account = provider.partition(":")
        name = self.groups.get(base, base)
        limit = self.limits.get(name)
        if limit is None or (sep and not account):
            raise UnknownProvider(provider)
        return (f"{name}:{account}" if sep else name), limit

    def providers(self) -> list[str]:
        return sorted(self.limits)

    def _bucket(self, limit: ProviderLimit) -> ProviderLimit:
        """The limit the bucket enforces: the burst less ``rate x transit_allowance`` tokens."""
        spare = math.ceil(limit.rate * self.transit_allowance - 1e-9)
        return ProviderLimit(limit.rate, limit.concurrency, max(1, limit.burst - spare))

    async def acquire(self, provider: str, *, max_wait: float | None = None) -> str:
        """Take a token and a concurrency slot, and a place in the provider's sliding window if
        it has one; returns the holder id to ``release``."""
        name, configured = self.resolve(provider)
        holder = uuid.uuid4().hex
        budget = self.default_timeout if max_wait is None else max_wait
        started = time.monotonic()
        deadline = started + budget
        bucket = self._bucket(configured)
        await self._take(provider, name, name, bucket, holder, self.lease_ms, started, deadline)
        if configured.window_calls:
            # A place in the window, held like the slot while the call is out and for the
            # window's length after its answer (``release``): the provider counted the call at
            # some moment before it answered, so the next call on that place always arrives a
            # full window later, however long the provider took to look at either.
            places = ProviderLimit(1_000_000.0, configured.window_calls, 1_000_000)
            window = _window(name)
            try:
                await self._take(
                    provider, name, window, places, holder, self.lease_ms, started, deadline
                )
            except BaseException:
                await self.release(provider, holder)
                raise
        await self._record(name, started, timed_out=False)
        return holder

    async def _take(
        self,
        provider: str,
        name: str,
        store_name: str,
        limit: ProviderLimit,
        holder: str,
        lease_ms: int,
        started: float,
        deadline: float,
    ) -> None:
        """Wait for ``holder``'s token and slot in ``store_name`` (the limiter ``name`` or its
        window) until ``deadline``; a timeout is counted under ``name``."""
        last_error: Exception | None = None
        while True:
            try:
                wait_ms = await self.backend.try_acquire(store_name, limit, holder, lease_ms)
                last_error = None
            except STORE_ERRORS as exc:  # store down or restarting: retry until the deadline
                last_error = exc
                wait_ms = 100
            if wait_ms <= 0:
                return
            now = time.monotonic()
            if now + wait_ms / 1000 > deadline:
                if last_error is not None:
                    raise RateLimiterUnavailable(
                        f"rate limiter store unreachable for {provider!r}: {last_error}"
                    ) from last_error
                await self._record(name, started, timed_out=True)
                raise RateLimitTimeout(provider, now - started)
            await asyncio.sleep(wait_ms / 1000)

    async def _record(self, name: str, started: float, *, timed_out: bool) -> None:
        waited = int((time.monotonic() - started) * 1000)
        # Counters are observability only; a failure to record must not fail the caller's call.
        with contextlib.suppress(*STORE_ERRORS):
            await self.backend.record(name, waited, timed_out)

    async def release(self, provider: str, holder: str) -> None:
        name, limit = self.resolve(provider)
        # A lost release only delays the slot until its lease expires; never fail the call for it.
        with contextlib.suppress(*STORE_ERRORS):
            await self.backend.release(name, holder)
            if limit.window_calls:
                # the window place stays taken for one window from now, then lapses
                await self.backend.renew(_window(name), holder, int(limit.window_seconds * 1000))

    @contextlib.asynccontextmanager
    async def slot(self, provider: str, *, max_wait: float | None = None) -> AsyncIterator[None]:
        """Hold one call's token and concurrency slot; the lease is renewed while held."""
        holder = await self.acquire(provider, max_wait=max_wait)
        name, limit = self.resolve(provider)
        interval = self.lease_ms / 3000
        renewer = Periodic(
            f"lease-renewal:{name}",
            lambda: self._renew(name, holder, windowed=bool(limit.window_calls)),
            interval,
            first_after=interval,
            stop_grace=interval,
        )
        renewer.start()
        try:
            yield
        finally:
            await renewer.stop()
            await self.release(provider, holder)

    async def _renew(self, name: str, holder: str, *, windowed: bool = False) -> None:
        # A missed renewal is retried a third of a lease later; the lease outlives two misses.
        with contextlib.suppress(*STORE_ERRORS):
            await self.backend.renew(name, holder, self.lease_ms)
            if windowed:
                await self.backend.renew(_window(name), holder, self.lease_ms)

    async def penalize(self, provider: str, retry_after_seconds: float | None) -> None:
        """A provider answered 429: nobody calls it until Retry-After, then at the steady rate."""
        name, configured = self.resolve(provider)
        limit = self._bucket(configured)
        seconds = retry_after_seconds if retry_after_seconds and retry_after_seconds > 0 else 1.0
        await self.backend.penalize(name, limit, int(seconds * 1000))

    async def reset(self, provider: str) -> None:
        """Refill the bucket and clear a penalty and the counters (admin action)."""
        name, limit = self.resolve(provider)
        await self.backend.reset(name, self._bucket(limit))

    async def state(self, provider: str, *, drain_counters: bool = False) -> LimiterState:
        name, limit = self.resolve(provider)
        bucket = self._bucket(limit)
        state = await self.backend.state(name, bucket, drain_counters)
        return dataclasses.replace(state, burst=limit.burst, effective_burst=bucket.burst)

    async def states(self, *, drain_counters: bool = False) -> list[LimiterState]:
        return [await self.state(name, drain_counters=drain_counters) for name in self.providers()]

    async def aclose(self) -> None:
        await self.backend.aclose()


def create_rate_limiter(
    redis: Redis | str | None,
    *,
    limits: Mapping[str, ProviderLimit] | None = None,
    default_timeout: float = 30.0,
    lease_seconds: float = SLOT_LEASE_SECONDS,
    prefix: str = "tt:rl:",
    transit_allowance: float = DEFAULT_TRANSIT_ALLOWANCE,
) -> RateLimiter:
    """A limiter on Redis (a client or a URL) when given one, in process memory otherwise."""
    backend: LimiterBackend
    if redis is None:
        backend = MemoryBackend()
    else:
        if isinstance(redis, str):
            client = Redis.from_url(redis, **redis_connection_options())
            backend = RedisBackend(client, prefix=prefix, owns_client=True)
        else:
            backend = RedisBackend(redis, prefix=prefix)
    return RateLimiter(
        backend,
        limits=limits,
        default_timeout=default_timeout,
        lease_seconds=lease_seconds,
        transit_allowance=transit_allowance,
    )


async def build_rate_limiter(
    settings: Settings, *, default_timeout: float = 30.0, database_url: str | None = None
) -> RateLimiter:
    """The process's limiter from settings: shared through Redis when ``REDIS_URL`` is set, else
    through the database (``database_url``, else the configured one), so every worker and the
    queue service see one state; in this process only when there is neither."""
    redis_url = settings.redis_dsn()
    shared_database = database_url or settings.sqlalchemy_url()
    if redis_url or shared_database is None:
        return create_rate_limiter(redis_url, default_timeout=default_timeout)
    database = Database(shared_database, pool_min=1, pool_max=4, single_statements=True)
    return RateLimiter(
        PostgresBackend(database, owns_database=True), default_timeout=default_timeout
    )
