"""Rate limits at the edge, shared by every gateway instance through Redis.

Two rules (SPEC section 7):
- every client (the token's subject, else the address) per route prefix: ``RATE_LIMIT_MAX_REQUESTS``
  per ``RATE_LIMIT_WINDOW_MS`` (100 a minute);
- ticket purchases (reservation and confirmation POSTs) per user: 5 a minute, and whoever goes
  over is blocked from purchasing for 5 minutes.

Each check is one atomic Redis script (count, window expiry, block), so N gateways enforce one
limit, not N. Without Redis, or while Redis does not answer, the same rules run in process memory
(AUDIT: in-memory limiters multiplied with instances; here memory is only the single-node mode
and the fallback). It runs after edge auth, so per-user limits know the user (AUDIT: middleware
ordered so the user was not known yet).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from tickettoken.kit.errors import RateLimited
from tickettoken.kit.registration import namespaced
from tickettoken.kit.settings import Settings

log = structlog.get_logger(__name__)

RATE_LIMIT_PREFIX = "tt:gw:rl:"

_PURCHASE = re.compile(
    r"^/api/v1/(reservations|reservations/[^/]+/confirm|events/[^/]+/reservations)/?$"
)

# KEYS: counter, block. ARGV: limit, window_ms, block_ms. Returns {count or -1, ms left}.
_CHECK_SCRIPT = """
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then
  return {-1, blocked}
end
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  left = tonumber(ARGV[2])
end
local block_ms = tonumber(ARGV[3])
if count > tonumber(ARGV[1]) and block_ms > 0 then
  redis.call('SET', KEYS[2], '1', 'PX', block_ms)
  return {-1, block_ms}
end
return {count, left}
"""


@dataclass(frozen=True)
class Rule:
    name: str
    limit: int
    window_ms: int
    block_ms: int = 0


@dataclass(slots=True)
class Verdict:
    """The outcome of one check, with what the client is told in headers."""

    limit: int
    remaining: int
    reset_at: float  # epoch seconds when the window (or block) ends

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", b"%d" % self.limit),
            (b"x-ratelimit-remaining", b"%d" % self.remaining),
            (b"x-ratelimit-reset", b"%d" % int(self.reset_at + 0.999)),
        ]


class _LocalCounters:
    """The same rules in process memory: counters with expiry, blocks with expiry."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, float]] = {}
        self._blocks: dict[str, float] = {}

    def check(self, key: str, rule: Rule) -> tuple[int, int]:
        now = time.monotonic()
        blocked_until = self._blocks.get(key)
        if blocked_until is not None and blocked_until > now:
            return -1, int((blocked_until - now) * 1000)
        count, ends = self._counts.get(key, (0, 0.0))
        if ends <= now:
            count, ends = 0, now + rule.window_ms / 1000
            if len(self._counts) > 100_000:
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
        count += 1
        self._counts[key] = (count, ends)
        if count > rule.limit and rule.block_ms:
            self._blocks[key] = now + rule.block_ms / 1000
            return -1, rule.block_ms
        return count, int((ends - now) * 1000)


class RateLimiter:
    def __init__(
        self,
        default: Rule,
        purchase: Rule,
        *,
        redis: Redis | None = None,
        prefix: str = RATE_LIMIT_PREFIX,
    ) -> None:
        self.default = default
        self.purchase = purchase
        self.prefix = prefix
        self.local = _LocalCounters()
        self._script: AsyncScript | None = None
        self._redis_failing = False
        if redis is not None:
            self.attach_redis(redis)

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        """The limits of the settings, its Redis keys in ``SERVICE_REGISTRY_NAMESPACE``."""
        return cls(
            Rule("client", settings.rate_limit_max_requests, settings.rate_limit_window_ms),
            Rule(
                "purchase",
                settings.gateway_purchase_limit,
                int(settings.gateway_purchase_window_seconds * 1000),
                int(settings.gateway_purchase_block_seconds * 1000),
            ),
            prefix=namespaced(RATE_LIMIT_PREFIX, settings),
        )

    def attach_redis(self, redis: Redis) -> None:
        self._script = redis.register_script(_CHECK_SCRIPT)

    def rule_for(self, method: str, path: str) -> Rule:
        if method == "POST" and _PURCHASE.match(path):
            return self.purchase
        return self.default

    def key_parts(self, method: str, path: str, prefix: str) -> tuple[Rule, str]:
        """The rule of a method and path and what follows the client in its counter's key:
        the same for every request to that path, so the proxy works it out once per path."""
        rule = self.rule_for(method, path)
        return rule, "" if rule is self.purchase else f":{prefix}"

    async def check(self, method: str, path: str, prefix: str, client: str) -> Verdict:
        """Count this request; raise ``RateLimited`` (429) when it is over the limit."""
        rule, suffix = self.key_parts(method, path, prefix)
        return await self.check_key(rule, f"{rule.name}:{client}{suffix}")

    @property
    def shared(self) -> bool:
        """Counting in Redis (else in process memory, where ``check_here`` needs no await)."""
        return self._script is not None

    async def check_key(self, rule: Rule, key: str) -> Verdict:
        """``check`` with the rule and the counter's key already known (``key_parts``)."""
        if self._script is None:
            count, left_ms = self.local.check(key, rule)
        else:
            count, left_ms = await self._count(key, rule)
        return self._verdict(rule, count, left_ms)

    def check_here(self, rule: Rule, key: str) -> list[tuple[bytes, bytes]]:
        """``check_key(...).headers()`` on the in-process counters (when not ``shared``)."""
        count, left_ms = self.local.check(key, rule)
        if count < 0 or count > rule.limit:
            self._verdict(rule, count, left_ms)  # raises RateLimited
        return [
            (b"x-ratelimit-limit", b"%d" % rule.limit),
            (b"x-ratelimit-remaining", b"%d" % (rule.limit - count)),
            (b"x-ratelimit-reset", b"%d" % int(time.time() + left_ms / 1000 + 0.999)),
        ]

    def _verdict(self, rule: Rule, count: int, left_ms: int) -> Verdict:
        reset_at = time.time() + left_ms / 1000
        if count < 0 or count > rule.limit:
            verdict = Verdict(rule.limit, 0, reset_at)
            raise RateLimited(
                max(1, int(left_ms / 1000 + 0.999)),
                "Too many purchase attempts; try again later"
                if rule is self.purchase
                else "Too many requests",
                headers={k.decode(): v.decode() for k, v in verdict.headers()},
            )
        return Verdict(rule.limit, rule.limit - count, reset_at)

    async def _count(self, key: str, rule: Rule) -> tuple[int, int]:
        if self._script is None:
            return self.local.check(key, rule)
        try:
            count, left_ms = await self._script(
                keys=[f"{self.prefix}{key}", f"{self.prefix}block:{key}"],
                args=[rule.limit, rule.window_ms, rule.block_ms],
            )
        except RedisError as exc:
            if not self._redis_failing:
                log.warning("rate_limit_redis_failed", error=str(exc), fallback="in-process")
            self._redis_failing = True
            return self.local.check(key, rule)
        self._redis_failing = False
        return int(count), int(left_ms)
