"""The key-value store behaves the same on Redis and in process."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from tickettoken.kit.kv import KeyValueStore, LockNotAcquired, MemoryStore, RedisStore, hold_lock


@pytest.fixture(params=["redis", "memory"])
async def store(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[KeyValueStore]:
    kv: KeyValueStore
    if request.param == "redis":
        kv = RedisStore(redis_url, prefix=f"test:{uuid.uuid4().hex}:")
    else:
        kv = MemoryStore()
    yield kv
    await kv.close()


async def test_set_get_delete_and_ttl(store: KeyValueStore) -> None:
    await store.set("a", b"1")
    await store.set("b", b"2", ttl_seconds=0.2)
    assert await store.get("a") == b"1"
    assert await store.get("b") == b"2"
    await asyncio.sleep(0.3)
    assert await store.get("b") is None
    assert await store.delete("a", "missing") == 1
    assert await store.get("a") is None


async def test_counters_are_atomic_under_concurrency(store: KeyValueStore) -> None:
    results = await asyncio.gather(*(store.incr("hits", ttl_seconds=10) for _ in range(200)))
    assert sorted(results) == list(range(1, 201))


async def test_set_if_absent_and_compare_and_delete(store: KeyValueStore) -> None:
    assert await store.set_if_absent("k", b"me", 5)
    assert not await store.set_if_absent("k", b"you", 5)
    assert not await store.delete_if_equals("k", b"you")
    assert await store.delete_if_equals("k", b"me")
    assert await store.get("k") is None


async def test_lock_excludes_and_times_out(store: KeyValueStore) -> None:
    inside = 0
    peak = 0

    async def worker() -> None:
        nonlocal inside, peak
        async with hold_lock(store, "job", ttl_seconds=5, wait_seconds=5):
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(worker() for _ in range(10)))
    assert peak == 1
    async with hold_lock(store, "held", ttl_seconds=5):
        with pytest.raises(LockNotAcquired):
            async with hold_lock(store, "held", wait_seconds=0.1):
                pass
