"""Self-registration of service instances in Redis, with a TTL heartbeat.

Each service has one sorted set, ``tt:registry:<service>``: members are instance base URLs,
scores the moment (epoch ms) their registration lapses. An instance re-announces itself every
``ttl / 3`` seconds; one that dies simply stops, and readers skip members whose score has passed
(and prune them). Nothing depends on Redis keeping this: after a Redis restart every instance is
back within one heartbeat, and the static lists of the environment are never forgotten.

It lives in the kit so that a service registers itself (``create_service_app`` does, when Redis
and ``SERVICE_ADVERTISE_URL`` are configured) without importing the gateway, which reads the same
keys (``gateway/discovery.py``).
"""

from __future__ import annotations

import socket
import time

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tickettoken.kit.kv import KeyValueStore, RedisStore
from tickettoken.kit.periodic import Periodic
from tickettoken.kit.settings import Settings

log = structlog.get_logger(__name__)

REGISTRY_PREFIX = "tt:registry:"


def registry_prefix(settings: Settings) -> str:
    """``tt:registry:``, or ``tt:registry:<namespace>:`` with ``SERVICE_REGISTRY_NAMESPACE``."""
    return namespaced(REGISTRY_PREFIX, settings)


def namespaced(prefix: str, settings: Settings) -> str:
    """``prefix`` followed by ``<namespace>:`` when ``SERVICE_REGISTRY_NAMESPACE`` is set: the
    Redis keys of platforms (and parallel test runs) sharing one Redis kept apart."""
    namespace = settings.service_registry_namespace
    return f"{prefix}{namespace}:" if namespace else prefix


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
    """Keeps one instance registered while it runs: ``await start()``, ``await stop()``.

    Redis being down neither stops the service starting nor stopping: the heartbeat logs and
    tries again at its next beat."""

    def __init__(
        self, registry: ServiceRegistry, service: str, url: str, *, ttl_seconds: float = 10.0
    ) -> None:
        self.registry = registry
        self.service = service
        self.url = url
        self.ttl_seconds = ttl_seconds
        self._beats: Periodic | None = None

    async def start(self) -> None:
        await self._announce()
        # Stopped by a flag rather than a cancellation, which redis-py swallows now and then
        # inside a command: a beat that went on would hang stop() and register the instance
        # again after it deregistered.
        self._beats = Periodic(
            f"registry-{self.service}",
            self._announce,
            self.ttl_seconds / 3,
            first_after=self.ttl_seconds / 3,
            stop_grace=5.0,
        )
        self._beats.start()

    async def _announce(self) -> None:
        try:
            await self.registry.register(self.service, self.url, self.ttl_seconds)
        except (RedisError, OSError) as exc:
            log.warning("registry_heartbeat_failed", service=self.service, error=str(exc))

    async def stop(self) -> None:
        if self._beats is not None:
            await self._beats.stop()
            self._beats = None
        try:
            await self.registry.deregister(self.service, self.url)
        except (RedisError, OSError) as exc:
            log.warning("registry_deregister_failed", service=self.service, error=str(exc))


def service_heartbeat(service: str, settings: Settings, kv: KeyValueStore) -> Heartbeat | None:
    """The heartbeat of this instance, or None when it has nothing to register with (no Redis,
    no advertised URL) or nobody reads it (the gateway discovers services, not gateways)."""
    url = settings.service_advertise_url
    if not url or service == "gateway" or not isinstance(kv, RedisStore):
        return None
    return Heartbeat(
        ServiceRegistry(kv.client, prefix=registry_prefix(settings)),
        service,
        url,
        ttl_seconds=settings.service_registration_ttl_seconds,
    )


def advertise_url(host: str, port: int) -> str:
    """The URL other processes reach an instance bound to ``host:port`` at. A wildcard bind is
    advertised by this host's own address (a container's address on its network)."""
    if host in ("", "0.0.0.0", "::"):
        try:
            host = socket.gethostbyname(socket.gethostname())
        except OSError:
            host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"
