"""Stripe's test-mode request rate limit: 25 requests a second per API key.

Stripe describes its limiter as a token bucket and does not publish the bucket's size; the
sandbox refills 25 tokens a second and holds ``burst`` of them (default 50, two seconds' worth,
the burst the queue's provider limiter is configured for). A refused request costs no token.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

TEST_MODE_RATE = 25.0
DEFAULT_BURST = 50.0


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class KeyRateLimit:
    """Token buckets per API key; ``rate`` 0 turns the limit off."""

    rate: float = TEST_MODE_RATE
    burst: float = DEFAULT_BURST
    buckets: dict[str, _Bucket] = field(default_factory=dict)

    def allow(self, key: str) -> bool:
        if self.rate <= 0:
            return True
        now = time.monotonic()
        bucket = self.buckets.setdefault(key, _Bucket(self.burst, now))
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True
