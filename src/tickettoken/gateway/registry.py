"""Self-registration of service instances in Redis, with a TTL heartbeat.

Each service has one sorted set, ``tt:registry:<service>``: members are instance base URLs,
scores the moment (epoch ms) their registration lapses. An instance re-announces itself every
``ttl / 3`` seconds; one that dies simply stops, and readers skip members whose score has passed
(and prune them). Nothing depends on Redis keeping this: after a Redis restart every instance is
back within one heartbeat, and the static lists of the environment are never forgotten.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tickettoken.kit.kv import RedisStore

log = structlog.get_logger(__name__)

REGISTRY_PREFIX = "tt:registry:"


class ServiceRegistry:
    def __init__(self, redis: Redis, *, prefix: str = REGISTRY_PREFIX) -> None:
        self.redis = redis
        self.prefix = prefix

    async def register(self, service: str, url: str, ttl_seconds: float) -> None:
        expires_ms = int((time.time() + ttl_seconds) * 1000)
        await self.redis.zadd(self.prefix + service, {url.rstrip("/"): expires_ms})

    async def deregister(self, service: str, url: str) -> None:
        await self.redis.zrem(self.prefix + service, url.rstrip("/"))

    async def instances(self, services: list[str]) -> dict[str, tuple[str, ...]]:
        """The live registrations of these services (one round trip)."""
        now_ms = int(time.time() * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            for service in services:
                pipe.zremrangebyscore(self.prefix + service, "-inf", now_ms)
                pipe.zrange(self.prefix + service, 0, -1)
            replies = await pipe.execute()
        found: dict[str, tuple[str, ...]] = {}
        for index, service in enumerate(services):
            members = replies[index * 2 + 1]
            found[service] = tuple(
                sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)
            )
        return found


class Heartbeat:
    """Keeps one instance registered while it runs: ``await start()``, ``await stop()``."""

    def __init__(
        self, registry: ServiceRegistry, service: str, url: str, *, ttl_seconds: float = 10.0
    ) -> None:
        self.registry = registry
        self.service = service
        self.url = url
        self.ttl_seconds = ttl_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.registry.register(self.service, self.url, self.ttl_seconds)
        self._task = asyncio.create_task(self._beat(), name=f"registry-{self.service}")

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_seconds / 3)
            try:
                await self.registry.register(self.service, self.url, self.ttl_seconds)
            except RedisError as exc:
                log.warning("registry_heartbeat_failed", service=self.service, error=str(exc))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.registry.deregister(self.service, self.url)


def registration_hooks(
    service: str, advertise_url: str | None, *, ttl_seconds: float = 10.0
) -> tuple[Callable[[Any], Awaitable[None]], Callable[[Any], Awaitable[None]]]:
    """Start-up and shutdown hooks (``create_service_app(on_startup=..., on_shutdown=...)``)
    that keep this instance registered while it runs, when Redis is configured and the
    instance knows the URL others reach it at (``SERVICE_ADVERTISE_URL``)."""
    beating: list[Heartbeat] = []

    async def register(app: Any) -> None:
        kv = app.state.kv
        if advertise_url and isinstance(kv, RedisStore):
            heartbeat = Heartbeat(
                ServiceRegistry(kv.client), service, advertise_url, ttl_seconds=ttl_seconds
            )
            await heartbeat.start()
            beating.append(heartbeat)

    async def deregister(app: Any) -> None:
        while beating:
            await beating.pop().stop()

    return register, deregister
