"""The limits of SPEC section 6, provider groups, the errors and state records of the limiter,
and the interface its backends (Redis, PostgreSQL, process memory) implement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class ProviderLimit:
    """One shared limiter: ``rate`` calls per second, ``burst`` bucket size, ``concurrency``;
    optionally also at most ``window_calls`` calls started in any ``window_seconds`` (a provider
    that counts calls in a sliding window, where a bucket's burst would overrun it)."""

    rate: float
    concurrency: int
    burst: int
    window_calls: int = 0
    window_seconds: float = 0.0


DEFAULT_LIMITS: dict[str, ProviderLimit] = {
    "stripe": ProviderLimit(rate=25, concurrency=10, burst=50),
    # Square counts requests per access token in a sliding second (the sandbox: 10); the
    # bucket's burst of 20 alone would send 18 at once and meet a wave of 429s.
    "square": ProviderLimit(rate=8, concurrency=5, burst=20, window_calls=10, window_seconds=1.0),
    "sendgrid": ProviderLimit(rate=5, concurrency=20, burst=100),
    "twilio": ProviderLimit(rate=1, concurrency=5, burst=10),
    "solana": ProviderLimit(rate=10, concurrency=5, burst=30),
    "quickbooks": ProviderLimit(rate=2, concurrency=3, burst=10),
    # QuickBooks also allows only 40 batch requests a minute per realm (a sliding minute): one
    # token at a time at 39 a minute never exceeds it, even with some transit jitter.
    "quickbooks-batch": ProviderLimit(rate=39 / 60, concurrency=3, burst=1),
    # Mailchimp limits connections (10 at once per account), not a rate.
    "mailchimp": ProviderLimit(rate=10, concurrency=10, burst=20),
    "internal": ProviderLimit(rate=100, concurrency=50, burst=200),
}

# Seconds of grant-to-arrival delay (event loop, HTTP client, network) the bucket leaves room
# for: a call granted at t may reach the provider at t + d while later calls arrive on time, so
# the provider would see up to ``rate x d`` calls more than the bucket granted in a window.
DEFAULT_TRANSIT_ALLOWANCE = 0.2

# Members of a group share the group's limiter.
GROUPS: dict[str, str] = {
    "stripe-charges": "stripe",
    "stripe-refunds": "stripe",
    "stripe-payouts": "stripe",
    "twilio-sms": "twilio",
    "twilio-voice": "twilio",
    "twilio-verify": "twilio",
    "sendgrid-transactional": "sendgrid",
    "sendgrid-marketing": "sendgrid",
}


class RateLimitError(RuntimeError):
    """Base class: a call could not be allowed."""


class UnknownProvider(RateLimitError, KeyError):
    """No limiter is configured under this name (a typo must not mean 'unlimited')."""


class RateLimitTimeout(RateLimitError):
    """The wait for a token or a concurrency slot exceeded the caller's timeout."""

    def __init__(self, provider: str, waited_seconds: float) -> None:
        self.provider = provider
        self.waited_seconds = waited_seconds
        super().__init__(
            f"rate limit for {provider!r}: no capacity within {waited_seconds:.1f}s (timeout)"
        )


class RateLimiterUnavailable(RateLimitError):
    """The limiter's store (Redis, or PostgreSQL without Redis) could not be reached before the
    timeout; the call was not allowed."""


class LimiterStoreError(RateLimitError):
    """The PostgreSQL store could not be reached (the Redis backend raises ``RedisError``)."""


@dataclass(frozen=True)
class LimiterState:
    """A snapshot of one shared limiter, for the API and the metrics sampler."""

    provider: str
    rate: float
    burst: int
    concurrency: int
    tokens_available: float
    in_flight: int
    penalized_for_seconds: float
    acquired: int
    waited_ms: int
    timeouts: int
    effective_burst: int = 0

    @classmethod
    def from_store(
        cls,
        name: str,
        limit: ProviderLimit,
        stored: tuple[float, float] | None,
        in_flight: int,
        counters: tuple[int, int, int],
    ) -> LimiterState:
        """The state from a stored bucket (``(tokens, ms until refill starts)``; None: no
        bucket, so full), refilled to now, plus slots in flight and the usage counters."""
        if stored is None:
            tokens, penalty = float(limit.burst), 0.0
        elif stored[1] > 0:  # penalized: no refill until then
            tokens, penalty = stored[0], stored[1] / 1000
        else:
            tokens = min(float(limit.burst), stored[0] + (-stored[1]) * limit.rate / 1000)
            penalty = 0.0
        acquired, waited_ms, timeouts = counters
        return cls(
            name,
            limit.rate,
            limit.burst,
            limit.concurrency,
            tokens,
            in_flight,
            penalty,
            acquired,
            waited_ms,
            timeouts,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "rate_per_second": self.rate,
            "burst": self.burst,
            "effective_burst": self.effective_burst,
            "max_concurrent": self.concurrency,
            "tokens_available": round(self.tokens_available, 3),
            "in_flight": self.in_flight,
            "penalized_for_seconds": round(self.penalized_for_seconds, 3),
            "acquired": self.acquired,
            "waited_ms": self.waited_ms,
            "timeouts": self.timeouts,
        }


class LimiterBackend(Protocol):
    """Where the buckets live. ``try_acquire`` answers 0 (granted) or milliseconds to wait."""

    async def try_acquire(
        self, name: str, limit: ProviderLimit, holder: str, lease_ms: int
    ) -> int: ...

    async def release(self, name: str, holder: str) -> None: ...
    async def renew(self, name: str, holder: str, lease_ms: int) -> None: ...
    async def penalize(self, name: str, limit: ProviderLimit, retry_after_ms: int) -> None: ...
    async def reset(self, name: str, limit: ProviderLimit) -> None: ...
    async def record(self, name: str, waited_ms: int, timed_out: bool) -> None: ...
    async def state(
        self, name: str, limit: ProviderLimit, drain_counters: bool
    ) -> LimiterState: ...
    async def aclose(self) -> None: ...
