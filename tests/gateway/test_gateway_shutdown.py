"""The gateway's background loops that talk to Redis (breaker sync, registry reads, the service
heartbeat) stop when asked, however their Redis commands end.

redis-py swallows a cancellation that lands inside a command now and then (about one in eight
during a loop of PINGs here); loops that were stopped only by cancelling them then ran on, and
the app's shutdown waited on them for ever (a hung test in a full-suite run). The loops are
stopped by a flag now (``kit.periodic``). Each loop here runs back to back (no pause between
rounds), so every stop arrives while a command is in flight.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Coroutine
from typing import Any

import redis.asyncio as aioredis

from tickettoken.gateway.discovery import InstancePool, InstanceWatcher
from tickettoken.gateway.resilience.breaker import BreakerBoard
from tickettoken.kit.registration import Heartbeat, ServiceRegistry

ROUNDS = 40


async def stops_in_time(stop: Coroutine[Any, Any, None]) -> None:
    # not asyncio.timeout: cancelling a stop that waits on a loop which swallowed its own
    # cancellation would hang as well
    task = asyncio.ensure_future(stop)
    done, _ = await asyncio.wait({task}, timeout=8)  # a round's commands time out after 2 s
    assert done, "the loop did not stop"
    task.result()


async def test_the_breaker_sync_stops_while_its_commands_run(redis_url: str) -> None:
    redis = aioredis.Redis.from_url(redis_url)
    try:
        for _ in range(ROUNDS):
            board = BreakerBoard(redis=redis, prefix=f"test:{uuid.uuid4().hex}:", sync_interval=0)
            board.get("event")
            await board.start()
            await asyncio.sleep(random.uniform(0, 0.005))
            await stops_in_time(board.close())
    finally:
        await redis.aclose()


async def test_the_registry_watcher_and_the_heartbeat_stop_while_their_commands_run(
    redis_url: str,
) -> None:
    redis = aioredis.Redis.from_url(redis_url)
    registry = ServiceRegistry(redis, prefix=f"test:{uuid.uuid4().hex}:")
    try:
        for _ in range(ROUNDS):
            watcher = InstanceWatcher(InstancePool({}), registry=registry, interval=0)
            heartbeat = Heartbeat(registry, "search", "http://127.0.0.1:1", ttl_seconds=0.003)
            await watcher.start()
            await heartbeat.start()
            await asyncio.sleep(random.uniform(0, 0.005))
            await stops_in_time(watcher.close())
            await stops_in_time(heartbeat.stop())
            # deregistered, and no beat after the stop registered it again
            assert await redis.zcard(registry.prefix + "search") == 0
    finally:
        await redis.aclose()
