"""Where each service's instances are and which may take traffic: the static lists of the
environment, passive ejection of instances that fail.

``EVENT_SERVICE_URL=http://a:3003,http://b:3003`` names two instances of the event service.
"""

from __future__ import annotations

import time

from tickettoken.kit.settings import SERVICE_PORTS, Settings


def static_instances(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Every service's configured base URLs (comma-separated lists), services without any left
    out."""
    table: dict[str, tuple[str, ...]] = {}
    for name in SERVICE_PORTS:
        if name == "gateway":
            continue
        configured = settings.service_url(name)
        if not configured:
            continue
        urls = tuple(url.strip().rstrip("/") for url in configured.split(",") if url.strip())
        if urls:
            table[name] = urls
    return table


class InstancePool:
    """The instances of every service and which of them may take traffic now.

    An instance that failed a call is ejected for ``eject_seconds`` (passive ejection); one that
    fails its active health check stays out until it passes again. When no instance is left, all
    of them are tried rather than none (the breaker decides when to stop).
    """

    def __init__(self, static: dict[str, tuple[str, ...]], *, eject_seconds: float = 2.0) -> None:
        self.static = static
        self.eject_seconds = eject_seconds
        self.registered: dict[str, tuple[str, ...]] = {}
        self.unhealthy: set[str] = set()
        self._ejected_until: dict[str, float] = {}
        self._all: dict[str, tuple[str, ...]] = dict(static)

    def services(self) -> list[str]:
        return list(self._all)

    def instances(self, service: str) -> tuple[str, ...]:
        return self._all.get(service, ())

    def set_registered(self, service: str, urls: tuple[str, ...]) -> None:
        self.registered[service] = urls
        merged = self.static.get(service, ()) + tuple(
            url for url in urls if url not in self.static.get(service, ())
        )
        if merged:
            self._all[service] = merged
        else:
            self._all.pop(service, None)

    def candidates(self, service: str, exclude: tuple[str, ...] = ()) -> list[str]:
        every = self._all.get(service, ())
        now = time.monotonic()
        ejected = self._ejected_until
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
