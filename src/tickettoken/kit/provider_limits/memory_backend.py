"""Buckets in process memory: the same algorithm as the Redis scripts, for a single process
without Redis (embedded single-node mode)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from tickettoken.kit.provider_limits.limits import LimiterState, ProviderLimit


@dataclass
class _MemoryBucket:
    tokens: float
    ts: float  # seconds, monotonic; may lie in the future after a penalty
    slots: dict[str, float]
    acquired: int = 0
    waited_ms: int = 0
    timeouts: int = 0


class MemoryBackend:
    """Buckets in this process only: correct for one process, used when there is no Redis."""

    def __init__(self) -> None:
        self._buckets: dict[str, _MemoryBucket] = {}

    def _bucket(self, name: str, limit: ProviderLimit) -> _MemoryBucket:
        bucket = self._buckets.get(name)
        if bucket is None:
            bucket = _MemoryBucket(float(limit.burst), time.monotonic(), {})
            self._buckets[name] = bucket
        return bucket

    @staticmethod
    def _refill(bucket: _MemoryBucket, limit: ProviderLimit, now: float) -> None:
        for holder, expires in list(bucket.slots.items()):
            if expires <= now:
                del bucket.slots[holder]
        if now > bucket.ts:
            bucket.tokens = min(float(limit.burst), bucket.tokens + (now - bucket.ts) * limit.rate)
            bucket.ts = now

    async def try_acquire(self, name: str, limit: ProviderLimit, holder: str, lease_ms: int) -> int:
        now = time.monotonic()
        bucket = self._bucket(name, limit)
        self._refill(bucket, limit, now)
        if bucket.tokens < 1:
            return math.ceil((bucket.ts - now) * 1000 + (1 - bucket.tokens) * 1000 / limit.rate)
        if len(bucket.slots) >= limit.concurrency:
            first = min(bucket.slots.values())
            return max(1, min(25, math.ceil((first - now) * 1000)))
        bucket.tokens -= 1
        bucket.slots[holder] = now + lease_ms / 1000
        bucket.acquired += 1
        return 0

    async def release(self, name: str, holder: str) -> None:
        bucket = self._buckets.get(name)
        if bucket is not None:
            bucket.slots.pop(holder, None)

    async def renew(self, name: str, holder: str, lease_ms: int) -> None:
        bucket = self._buckets.get(name)
        if bucket is not None and holder in bucket.slots:
            bucket.slots[holder] = time.monotonic() + lease_ms / 1000

    async def penalize(self, name: str, limit: ProviderLimit, retry_after_ms: int) -> None:
        bucket = self._bucket(name, limit)
        bucket.tokens = 0.0
        bucket.ts = max(bucket.ts, time.monotonic() + retry_after_ms / 1000)

    async def reset(self, name: str, limit: ProviderLimit) -> None:
        old = self._buckets.get(name)
        slots = old.slots if old is not None else {}
        self._buckets[name] = _MemoryBucket(float(limit.burst), time.monotonic(), slots)

    async def record(self, name: str, waited_ms: int, timed_out: bool) -> None:
        bucket = self._buckets.get(name)
        if bucket is not None:
            bucket.waited_ms += waited_ms
            bucket.timeouts += int(timed_out)

    async def state(self, name: str, limit: ProviderLimit, drain_counters: bool) -> LimiterState:
        bucket = self._bucket(name, limit)
        now = time.monotonic()
        self._refill(bucket, limit, now)
        penalty = max(0.0, bucket.ts - now)
        result = LimiterState(
            name,
            limit.rate,
            limit.burst,
            limit.concurrency,
            bucket.tokens,
            len(bucket.slots),
            penalty,
            bucket.acquired,
            bucket.waited_ms,
            bucket.timeouts,
        )
        if drain_counters:
            bucket.acquired = bucket.waited_ms = bucket.timeouts = 0
        return result

    async def aclose(self) -> None:
        self._buckets.clear()
