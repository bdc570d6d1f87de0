"""Choosing one instance of a service: round-robin, least connections, random, or a consistent
hash on a session key (the same caller keeps reaching the same instance while it is healthy).

Instances that just failed are skipped (passive ejection, ``discovery.InstancePool``); a retry
asks for an instance other than the one that failed.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import random
from collections.abc import Sequence
from enum import StrEnum

from tickettoken.kit.settings import ConfigurationError


class Strategy(StrEnum):
    ROUND_ROBIN = "round-robin"
    LEAST_CONNECTIONS = "least-connections"
    RANDOM = "random"
    CONSISTENT_HASH = "consistent-hash"


_VIRTUAL_NODES = 64


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class Balancer:
    """Picks among the candidate URLs of one service by its strategy."""

    def __init__(self, strategy: Strategy = Strategy.ROUND_ROBIN) -> None:
        self.strategy = strategy
        self._counter = itertools.count()
        self.in_flight: dict[str, int] = {}
        self._ring_for: tuple[str, ...] = ()
        self._ring: list[tuple[int, str]] = []

    def pick(
        self,
        candidates: Sequence[str],
        session_key: str | None = None,
        every_instance: Sequence[str] = (),
    ) -> str:
        """One of ``candidates``. The hash ring is built over ``every_instance`` (healthy or
        not), so a caller moves only when its own instance is out, and moves back after."""
        if len(candidates) == 1:
            return candidates[0]
        if self.strategy is Strategy.LEAST_CONNECTIONS:
            return min(candidates, key=lambda url: self.in_flight.get(url, 0))
        if self.strategy is Strategy.RANDOM:
            return random.choice(candidates)
        if self.strategy is Strategy.CONSISTENT_HASH and session_key:
            return self._on_ring(tuple(every_instance or candidates), candidates, session_key)
        return candidates[next(self._counter) % len(candidates)]

    def started(self, url: str) -> None:
        self.in_flight[url] = self.in_flight.get(url, 0) + 1

    def finished(self, url: str) -> None:
        self.in_flight[url] = self.in_flight.get(url, 1) - 1

    def _on_ring(self, instances: tuple[str, ...], candidates: Sequence[str], key: str) -> str:
        if instances != self._ring_for:
            self._ring = sorted(
                (_hash(f"{url}#{n}"), url) for url in instances for n in range(_VIRTUAL_NODES)
            )
            self._ring_for = instances
        start = bisect.bisect(self._ring, (_hash(key), ""))
        for step in range(len(self._ring)):
            url = self._ring[(start + step) % len(self._ring)][1]
            if url in candidates:
                return url
        return candidates[0]


def parse_strategies(text: str) -> dict[str, Strategy]:
    """``GATEWAY_BALANCING``: ``event=least-connections,queue=random``."""
    strategies: dict[str, Strategy] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        service, _, name = item.partition("=")
        try:
            strategies[service.strip()] = Strategy(name.strip())
        except ValueError as exc:
            choices = ", ".join(s.value for s in Strategy)
            raise ConfigurationError(
                f"GATEWAY_BALANCING: {item.strip()!r} (use {choices})"
            ) from exc
    return strategies
