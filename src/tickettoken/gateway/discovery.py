"""Where each service's instances are and which may take traffic: the static lists of the
environment plus instances registered in Redis (``kit/registration.py``), an active health check
of each, and passive ejection of instances that fail a call.

``EVENT_SERVICE_URL=http://a:3003,http://b:3003`` names two instances of the event service.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import structlog
from redis.exceptions import RedisError

from tickettoken.kit.periodic import Periodic
from tickettoken.kit.registration import ServiceRegistry
from tickettoken.kit.settings import SERVICE_PORTS, Settings

log = structlog.get_logger(__name__)


def _split(configured: str | None) -> tuple[str, ...]:
    if not configured:
        return ()
    return tuple(url.strip().rstrip("/") for url in configured.split(",") if url.strip())


def static_instances(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Every service's configured base URLs (comma-separated lists), services without any left
    out."""
    table: dict[str, tuple[str, ...]] = {}
    for name in SERVICE_PORTS:
        if name == "gateway":
            continue
        explicit = getattr(settings, f"{name}_service_url", None)
        if name == "venue":
            explicit = explicit or settings.event_service_url
        urls = _split(explicit)
        if urls:
            table[name] = urls
    return table


def default_instances(settings: Settings) -> dict[str, tuple[str, ...]]:
    """The local address of each of the platform's own services that is not configured: used
    only while no instance of it is configured or registered (``tickettoken up`` on one host)."""
    configured = static_instances(settings)
    table: dict[str, tuple[str, ...]] = {}
    for name in SERVICE_PORTS:
        if name == "gateway" or name in configured:
            continue
        urls = _split(settings.service_url(name))
        if urls:
            table[name] = urls
    return table


class InstancePool:
    """The instances of every service and which of them may take traffic now.

    An instance that failed a call is ejected for ``eject_seconds`` (passive ejection); one that
    fails its active health check stays out until it passes again. When no instance is left, all
    of them are tried rather than none (the breaker decides when to stop).
    """

    def __init__(
        self,
        static: dict[str, tuple[str, ...]],
        *,
        defaults: dict[str, tuple[str, ...]] | None = None,
        eject_seconds: float = 2.0,
    ) -> None:
        self.static = static
        self.defaults = defaults or {}
        self.eject_seconds = eject_seconds
        self.registered: dict[str, tuple[str, ...]] = {}
        self.unhealthy: set[str] = set()
        self._ejected_until: dict[str, float] = {}
        self._all: dict[str, tuple[str, ...]] = {**self.defaults, **static}

    def services(self) -> list[str]:
        return list(self._all)

    def instances(self, service: str) -> tuple[str, ...]:
        return self._all.get(service, ())

    def set_registered(self, service: str, urls: tuple[str, ...]) -> None:
        self.registered[service] = urls
        merged = self.static.get(service, ()) + tuple(
            url for url in urls if url not in self.static.get(service, ())
        )
        merged = merged or self.defaults.get(service, ())
        if merged:
            self._all[service] = merged
        else:
            self._all.pop(service, None)

    def candidates(self, service: str, exclude: tuple[str, ...] = ()) -> list[str]:
        every = self._all.get(service, ())
        if not exclude and not self._ejected_until and self.unhealthy.isdisjoint(every):
            return list(every)  # the usual case: nothing failed lately
        now = time.monotonic()
        ejected = self._ejected_until
        for url in [url for url, until in ejected.items() if until <= now]:
            del ejected[url]  # served its time: back to the fast path above
        good = [
            url
            for url in every
            if url not in exclude
            and url not in self.unhealthy
            and (url not in ejected or ejected[url] <= now)
        ]
        if good:
            return good
        return [url for url in every if url not in exclude] or list(every)

    def eject(self, url: str) -> None:
        self._ejected_until[url] = time.monotonic() + self.eject_seconds

    def readmit(self, url: str) -> None:
        self._ejected_until.pop(url, None)
        self.unhealthy.discard(url)


class InstanceWatcher:
    """Keeps an ``InstancePool`` current: registrations from Redis (when there is a registry)
    and an active health check of every instance (``GET /health/ready``) each ``interval``."""

    def __init__(
        self,
        pool: InstancePool,
        *,
        registry: ServiceRegistry | None = None,
        interval: float = 1.0,
        check_timeout: float = 1.0,
    ) -> None:
        self.pool = pool
        self.registry = registry
        self.interval = interval
        self.check_timeout = check_timeout
        self._rounds: Periodic | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.check_timeout)
        )
        await self.refresh()
        # stopped by a flag, not a cancellation (which redis-py may swallow): BreakerBoard.start
        self._rounds = Periodic(
            "instance-watcher",
            self._round,
            self.interval,
            first_after=self.interval,
            stop_grace=2 * self.check_timeout + 2.0,
        )
        self._rounds.start()

    async def close(self) -> None:
        if self._rounds is not None:
            await self._rounds.stop()
            self._rounds = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _round(self) -> None:
        try:
            await self.refresh()
        except RedisError as exc:
            log.warning("registry_read_failed", error=str(exc))

    async def refresh(self) -> None:
        if self.registry is not None:
            names = [name for name in SERVICE_PORTS if name != "gateway"]
            for service, urls in (await self.registry.instances(names)).items():
                self.pool.set_registered(service, urls)
        every = {url for service in self.pool.services() for url in self.pool.instances(service)}
        await asyncio.gather(*(self._check(url) for url in every))

    async def _check(self, url: str) -> None:
        assert self._session is not None
        try:
            async with self._session.get(url + "/health/ready") as response:
                healthy = response.status == 200
        except (aiohttp.ClientError, OSError, TimeoutError):
            healthy = False
        if healthy:
            if url in self.pool.unhealthy:
                log.info("instance_healthy", instance=url)
            self.pool.readmit(url)
        elif url not in self.pool.unhealthy:
            log.warning("instance_unhealthy", instance=url)
            self.pool.unhealthy.add(url)
