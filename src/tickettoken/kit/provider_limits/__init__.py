"""The provider rate limiter shared by every worker and instance (SPEC section 6).

Each provider (or group of providers: ``stripe-charges``/``-refunds``/``-payouts`` share
``stripe``) has a token bucket (``rate`` per second, ``burst`` tokens) and a maximum number of
calls in flight. One call takes one token *and* one concurrency slot, atomically::

    async with limiter.slot("stripe"):
        response = await client.post(...)
    if response.status_code == 429:
        await limiter.penalize("stripe", retry_after_seconds)

Why not a library: the maintained Python limiters (``limits``, ``aiolimiter``, ``pyrate-limiter``)
either keep state in process memory or offer fixed/sliding windows without a concurrency limit, a
lease that expires when the holder dies, or a shared penalty for 429s. The original kept buckets in
process memory so limits multiplied with instances (AUDIT); here the state lives in Redis and every
decision is one Lua script, so two workers on two machines see one bucket. The script reads the
clock with Redis ``TIME``, so processes with skewed clocks still agree.

- **Concurrency slots are leases**, not a counter: a sorted set of holder tokens scored by expiry.
  A holder that dies stops renewing and its slot frees itself after ``lease_seconds`` (5 s); a live
  holder renews the lease in the background while it holds the slot.
- **Waits are bounded**: ``slot(..., max_wait=)`` raises ``RateLimitTimeout`` instead of hanging.
  If Redis is unreachable the limiter keeps trying until the same deadline and then raises
  ``RateLimiterUnavailable``; it never silently falls back to a per-process bucket (that would
  multiply the limit). After Redis restarts empty, buckets start full again (as after an idle
  period) and the limiter carries on: scripts are reloaded by redis-py on ``NOSCRIPT``.
- **A 429 slows everyone down**: ``penalize`` empties the shared bucket and moves its refill
  start to ``now + retry_after``, so no instance sends anything until then and traffic resumes at
  the steady rate, without a burst.
- **Without Redis** the same algorithm runs in PostgreSQL (``PostgresBackend``: one statement
  per decision, the bucket row locked while a token and a slot are taken), so every worker and
  the queue service still share one state; with neither (a lone process, tests) in memory.
- **Transit allowance**: the provider counts arrivals, not grants, and a grant may travel for a
  while (a busy event loop, a slow connection) while later grants arrive on time. The bucket
  therefore holds ``burst - ceil(rate x 0.2 s)`` tokens (stripe: 45 of 50), so the provider never
  sees more than ``burst + rate x window`` even with 200 ms of jitter; the steady rate is
  unchanged, so at most ``rate x 0.2`` calls of a 20 s window's allowance go unused (< 1 %).

Usage counters (acquired, waited milliseconds, timeouts) are kept next to the bucket so the
queue service can sample them for every process into ``rate_limit_metrics``.
"""

from tickettoken.kit.provider_limits.limiter import (
    RateLimiter,
    build_rate_limiter,
    create_rate_limiter,
)
from tickettoken.kit.provider_limits.limits import (
    DEFAULT_LIMITS,
    DEFAULT_TRANSIT_ALLOWANCE,
    GROUPS,
    LimiterBackend,
    LimiterState,
    LimiterStoreError,
    ProviderLimit,
    RateLimitError,
    RateLimiterUnavailable,
    RateLimitTimeout,
    UnknownProvider,
)
from tickettoken.kit.provider_limits.memory_backend import MemoryBackend
from tickettoken.kit.provider_limits.postgres_backend import PostgresBackend
from tickettoken.kit.provider_limits.redis_backend import RedisBackend

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_TRANSIT_ALLOWANCE",
    "GROUPS",
    "LimiterBackend",
    "LimiterState",
    "LimiterStoreError",
    "MemoryBackend",
    "PostgresBackend",
    "ProviderLimit",
    "RateLimitError",
    "RateLimitTimeout",
    "RateLimiter",
    "RateLimiterUnavailable",
    "RedisBackend",
    "UnknownProvider",
    "build_rate_limiter",
    "create_rate_limiter",
]
