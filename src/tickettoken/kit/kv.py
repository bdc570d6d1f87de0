"""A small key-value interface backed by Redis when configured, by process memory otherwise.

Caches, counters and locks go through this interface so that services run unchanged without
Redis (single node, embedded mode). Nothing stored here may be the only copy of anything that
matters: Redis can be restarted empty at any time, and callers treat a miss as a miss.

Redis errors are not swallowed: a cache read that fails raises ``KeyValueUnavailable`` and the
caller decides (caches fall back to the database; limiters refuse or allow by policy).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError


class KeyValueUnavailable(RuntimeError):
    """The backing store could not answer."""


class LockNotAcquired(RuntimeError):
    """Another holder kept the lock for longer than we were willing to wait."""


class KeyValueStore(Protocol):
    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None: ...
    async def delete(self, *keys: str) -> int: ...
    async def incr(self, key: str, amount: int = 1, ttl_seconds: float | None = None) -> int: ...
    async def set_if_absent(self, key: str, value: bytes, ttl_seconds: float) -> bool: ...
    async def delete_if_equals(self, key: str, value: bytes) -> bool: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...


class MemoryStore:
    """In-process store with TTLs, for a single node without Redis."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._lock = asyncio.Lock()

    def _live(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= time.monotonic():
            del self._data[key]
            return None
        return value

    @staticmethod
    def _expiry(ttl_seconds: float | None) -> float | None:
        return None if ttl_seconds is None else time.monotonic() + ttl_seconds

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def set(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None:
        self._data[key] = (value, self._expiry(ttl_seconds))

    async def delete(self, *keys: str) -> int:
        removed = 0
        for key in keys:
            if self._live(key) is not None:
                removed += 1
            self._data.pop(key, None)
        return removed

    async def incr(self, key: str, amount: int = 1, ttl_seconds: float | None = None) -> int:
        async with self._lock:
            current = self._live(key)
            expires = self._data[key][1] if current is not None else self._expiry(ttl_seconds)
            value = int(current or b"0") + amount
            self._data[key] = (str(value).encode(), expires)
            return value

    async def set_if_absent(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        async with self._lock:
            if self._live(key) is not None:
                return False
            self._data[key] = (value, self._expiry(ttl_seconds))
            return True

    async def delete_if_equals(self, key: str, value: bytes) -> bool:
        async with self._lock:
            if self._live(key) == value:
                del self._data[key]
                return True
            return False

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._data.clear()


_INCR_WITH_TTL = """
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if v == tonumber(ARGV[1]) and tonumber(ARGV[2]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return v
"""

_DELETE_IF_EQUALS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def redis_connection_options() -> dict[str, Any]:
    """Connection settings every Redis client of the platform uses.

    After Redis restarts, each pooled connection is dead but looks open; the first command on it
    fails. ``retry_on_error`` with one retry sends that command again on a fresh connection, so
    a restart costs no failed call; connections idle for a while are also pinged before use
    (``health_check_interval``). Timeouts are not retried: a slow Redis must not double the
    wait, and a command that timed out may have run.
    """
    return {
        "socket_timeout": 2.0,
        "socket_connect_timeout": 2.0,
        "health_check_interval": 10,
        "retry": Retry(NoBackoff(), 1),
        "retry_on_error": [RedisConnectionError],
    }


class RedisStore:
    """Redis-backed store; atomic operations use server-side scripts."""

    def __init__(self, url: str, *, prefix: str = "tt:") -> None:
        # A blocking pool makes bursts wait briefly for a connection instead of failing.
        pool = BlockingConnectionPool.from_url(
            url, max_connections=64, timeout=2.0, **redis_connection_options()
        )
        self.client: Redis = Redis(connection_pool=pool)
        self.prefix = prefix
        self._incr = self.client.register_script(_INCR_WITH_TTL)
        self._cas_delete = self.client.register_script(_DELETE_IF_EQUALS)

    def _k(self, key: str) -> str:
        return self.prefix + key

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self.client.get(self._k(key))
        except RedisError as exc:
            raise KeyValueUnavailable(str(exc)) from exc
        if value is None or isinstance(value, bytes):
            return value
        return str(value).encode()

    async def set(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None:
        try:
            px = int(ttl_seconds * 1000) if ttl_seconds else None
            await self.client.set(self._k(key), value, px=px)
        except RedisError as exc:
            raise KeyValueUnavailable(str(exc)) from exc

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        try:
            return int(await self.client.delete(*(self._k(k) for k in keys)))
        except RedisError as exc:
            raise KeyValueUnavailable(str(exc)) from exc

    async def incr(self, key: str, amount: int = 1, ttl_seconds: float | None = None) -> int:
        ttl_ms = int(ttl_seconds * 1000) if ttl_seconds else 0
        try:
            return int(await self._incr(keys=[self._k(key)], args=[amount, ttl_ms]))
        except RedisError as exc:
            raise KeyValueUnavailable(str(exc)) from exc

    async def set_if_absent(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        try:
            ok = await self.client.set(self._k(key), value, px=int(ttl_seconds * 1000), nx=True)
        except RedisError as exc:
            raise KeyValueUnavailable(str(exc)) from exc
        return bool(ok)

    async def delete_if_equals(self, key: str, value: bytes) -> bool:
        try:
            return bool(await self._cas_delete(keys=[self._k(key)], args=[value]))
        except RedisError as exc:
            raise KeyValueUnavailable(str(exc)) from exc

    async def ping(self) -> None:
        try:
            await self.client.ping()
        except RedisError as exc:
            raise KeyValueUnavailable(str(exc)) from exc

    async def close(self) -> None:
        await self.client.aclose()


def create_store(redis_url: str | None) -> KeyValueStore:
    return RedisStore(redis_url) if redis_url else MemoryStore()


@asynccontextmanager
async def hold_lock(
    store: KeyValueStore, name: str, *, ttl_seconds: float = 30.0, wait_seconds: float = 10.0
) -> AsyncIterator[None]:
    """A lease lock: released on exit, expires by itself if the holder dies.

    For exclusion that must survive a Redis restart (money, token refresh), use a database lock
    instead; this one is for coordination where a rare double run is harmless.
    """
    token = uuid.uuid4().hex.encode()
    key = f"lock:{name}"
    deadline = time.monotonic() + wait_seconds
    delay = 0.01
    while not await store.set_if_absent(key, token, ttl_seconds):
        if time.monotonic() >= deadline:
            raise LockNotAcquired(name)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.25)
    try:
        yield
    finally:
        await store.delete_if_equals(key, token)
