"""Retries: which requests may be repeated, how long to wait, and how many retries a service may
receive.

Only requests that are safe to repeat are retried: idempotent methods, or any method carrying an
``Idempotency-Key`` (the services answer a repeat with the first answer, SPEC section 3). Only
failures that say nothing was done or the service is momentarily unable are retried: no answer at
all, 502, 503, 504; never a 4xx. Waits grow exponentially with full jitter (so instances that
failed together do not retry together) and never run past the route's deadline.

The budget caps retries at a share (20 %) of the requests a service received in a rolling window,
with a small floor so a quiet service still gets a retry (as Finagle's retry budget): when a
service is down, retries stop multiplying its load. Written here rather than with
tenacity: the loop has to consult the budget, the breaker and the route deadline on every
attempt and must not retry once response bytes have been sent, which leaves tenacity only the
backoff formula.
"""

from __future__ import annotations

import random
import time
from collections import deque

from starlette.types import Scope

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
RETRYABLE_STATUSES = frozenset({502, 503, 504})
MAX_ATTEMPTS = 3
BASE_DELAY_SECONDS = 0.05
MAX_DELAY_SECONDS = 1.0


def may_retry(scope: Scope) -> bool:
    if scope["method"] in IDEMPOTENT_METHODS:
        return True
    return any(name == b"idempotency-key" for name, _ in scope["headers"])


def backoff_seconds(retry_number: int) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**n)] for the n-th retry (from 1)."""
    ceiling = min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * (2 ** (retry_number - 1)))
    return random.uniform(0, ceiling)


class RetryBudget:
    """At most ``ratio`` of a service's requests in the last ``window_seconds`` may be retries;
    a service with little traffic may still get ``reserve`` retries per window."""

    def __init__(self, ratio: float = 0.2, window_seconds: float = 10.0, reserve: int = 3) -> None:
        self.ratio = ratio
        self.window_seconds = window_seconds
        self.reserve = reserve
        self._requests: deque[float] = deque()
        self._retries: deque[float] = deque()

    def _trim(self, now: float) -> None:
        horizon = now - self.window_seconds
        for stamps in (self._requests, self._retries):
            while stamps and stamps[0] < horizon:
                stamps.popleft()

    def note_request(self) -> None:
        now = time.monotonic()
        self._requests.append(now)
        if self._requests[0] < now - self.window_seconds:
            self._trim(now)

    def try_spend(self) -> bool:
        """Take one retry from the budget if there is one left."""
        now = time.monotonic()
        self._trim(now)
        if len(self._retries) >= max(self.reserve, self.ratio * len(self._requests)):
            return False
        self._retries.append(now)
        return True
