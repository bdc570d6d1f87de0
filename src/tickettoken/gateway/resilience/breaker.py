"""A circuit breaker per downstream service, its state shared by every gateway instance.

It opens on the error rate over a rolling window once the window holds a minimum volume, answers
503 with ``Retry-After`` without touching the service while open, lets one probe through after the
cool-down (half-open), and closes when the probe succeeds or reopens when it fails.

Written here because no maintained library fits: pybreaker and aiobreaker count consecutive
failures and share state through synchronous Redis calls; purgatory is async with Redis storage
but also counts consecutive failures, not an error rate with a minimum volume.

The hot path never waits on Redis: each instance decides from its own state and records outcomes
in memory. A sync task pushes the counts to Redis every ``sync_interval`` seconds through one
atomic script that merges them into the shared window, opens the shared breaker when the shared
error rate crosses the threshold, and returns the shared state, which every instance adopts. An
instance that opens or closes its breaker itself (its own window, or a probe) publishes that on
the next sync. Without Redis the same breaker runs in-process.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from enum import StrEnum

import structlog
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from tickettoken.gateway.metrics import BREAKER_STATE
from tickettoken.kit.errors import ServiceUnavailable
from tickettoken.kit.periodic import Periodic
from tickettoken.kit.settings import Settings

log = structlog.get_logger(__name__)

BREAKER_PREFIX = "tt:gw:breaker:"


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    window_seconds: int = 10
    min_volume: int = 20
    error_rate: float = 0.5
    cool_down_seconds: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings) -> BreakerPolicy:
        return cls(
            window_seconds=settings.gateway_breaker_window_seconds,
            min_volume=settings.gateway_breaker_min_volume,
            error_rate=settings.gateway_breaker_error_rate,
            cool_down_seconds=settings.gateway_breaker_cool_down_seconds,
        )


class BreakerOpen(ServiceUnavailable):
    def __init__(self, service: str, retry_after: float) -> None:
        super().__init__(
            f"The {service} service is unavailable (circuit open)",
            headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
        )


class CircuitBreaker:
    """One service's breaker in this process; ``BreakerBoard`` keeps it in step with the others."""

    def __init__(self, service: str, policy: BreakerPolicy) -> None:
        self.service = service
        self.policy = policy
        self.open_until = 0.0  # wall-clock seconds; 0 when closed
        self._probe_in_flight = False
        self._buckets: dict[int, list[int]] = {}  # second -> [successes, failures]
        self.unsynced = [0, 0]
        self.pending_event: str | None = None  # "open" or "close", published on the next sync

    @property
    def state(self) -> BreakerState:
        if not self.open_until:
            return BreakerState.CLOSED
        return BreakerState.OPEN if time.time() < self.open_until else BreakerState.HALF_OPEN

    def admit(self) -> bool:
        """Raise ``BreakerOpen`` or let the call through; True when the call is the probe."""
        if not self.open_until:
            return False
        now = time.time()
        if now < self.open_until:
            raise BreakerOpen(self.service, self.open_until - now)
        if self._probe_in_flight:
            raise BreakerOpen(self.service, 1)
        self._probe_in_flight = True
        BREAKER_STATE.labels(self.service).set(2)
        return True

    def record(self, ok: bool, *, probe: bool) -> None:
        if probe:
            self._probe_in_flight = False
            if ok:
                self._close()
                self.pending_event = "close"
            else:
                self._open()
            return
        self.unsynced[0 if ok else 1] += 1
        second = int(time.monotonic())
        bucket = self._buckets.get(second)
        if bucket is None:
            bucket = self._buckets[second] = [0, 0]
            horizon = second - self.policy.window_seconds
            for old in [s for s in self._buckets if s <= horizon]:
                del self._buckets[old]
        bucket[0 if ok else 1] += 1
        if not ok and not self.open_until:
            successes = sum(b[0] for b in self._buckets.values())
            failures = sum(b[1] for b in self._buckets.values())
            volume = successes + failures
            if volume >= self.policy.min_volume and failures >= self.policy.error_rate * volume:
                self._open()

    def abandon_probe(self) -> None:
        """The probe ended without an answer from the service (the client went away)."""
        self._probe_in_flight = False

    def _open(self) -> None:
        self.open_until = time.time() + self.policy.cool_down_seconds
        self._buckets.clear()
        self.pending_event = "open"
        BREAKER_STATE.labels(self.service).set(1)
        log.warning("breaker_opened", service=self.service)

    def _close(self) -> None:
        if self.open_until:
            log.info("breaker_closed", service=self.service)
        self.open_until = 0.0
        self._buckets.clear()
        BREAKER_STATE.labels(self.service).set(0)

    def adopt(self, shared_open_until: float) -> None:
        """Take the state every instance shares (from Redis)."""
        if shared_open_until and not self.open_until:
            self.open_until = shared_open_until
            self._buckets.clear()
            BREAKER_STATE.labels(self.service).set(1)
            log.warning("breaker_opened", service=self.service, by="another gateway")
        elif shared_open_until and shared_open_until > self.open_until:
            self.open_until = shared_open_until
        elif not shared_open_until and self.open_until:
            self._probe_in_flight = False
            self._close()


# KEYS: window hash, state key. ARGV: successes, failures, now_ms, window_s, min_volume,
# error_rate, cool_down_ms, event ("", "open", "close"). Returns the shared open-until (ms), 0.
_SYNC_SCRIPT = """
local wkey, skey = KEYS[1], KEYS[2]
local succ, fail = tonumber(ARGV[1]), tonumber(ARGV[2])
local now_ms, window = tonumber(ARGV[3]), tonumber(ARGV[4])
local min_volume, rate, cool = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local event = ARGV[8]
if event == 'close' then
  redis.call('DEL', skey, wkey)
  return 0
end
if event == 'open' then
  local current = tonumber(redis.call('GET', skey) or '0')
  local open_until = math.max(current, now_ms + cool)
  redis.call('SET', skey, open_until, 'PX', cool + 60000)
  redis.call('DEL', wkey)
  return open_until
end
local open_until = tonumber(redis.call('GET', skey) or '0')
if open_until > 0 then
  return open_until
end
if succ + fail == 0 then
  return 0
end
local sec = math.floor(now_ms / 1000)
if succ > 0 then redis.call('HINCRBY', wkey, 's' .. sec, succ) end
if fail > 0 then redis.call('HINCRBY', wkey, 'f' .. sec, fail) end
redis.call('PEXPIRE', wkey, (window + 1) * 1000)
local ok_total, fail_total = 0, 0
local fields = redis.call('HGETALL', wkey)
for i = 1, #fields, 2 do
  local field, count = fields[i], tonumber(fields[i + 1])
  if tonumber(string.sub(field, 2)) <= sec - window then
    redis.call('HDEL', wkey, field)
  elseif string.sub(field, 1, 1) == 's' then
    ok_total = ok_total + count
  else
    fail_total = fail_total + count
  end
end
local volume = ok_total + fail_total
if volume >= min_volume and fail_total >= rate * volume then
  open_until = now_ms + cool
  redis.call('SET', skey, open_until, 'PX', cool + 60000)
  redis.call('DEL', wkey)
  return open_until
end
return 0
"""


class BreakerBoard:
    """Every service's breaker in this process, synchronised through Redis when there is one."""

    def __init__(
        self,
        policy: BreakerPolicy | None = None,
        *,
        redis: Redis | None = None,
        prefix: str = BREAKER_PREFIX,
        sync_interval: float = 0.2,
    ) -> None:
        self.policy = policy or BreakerPolicy()
        self.redis = redis
        self.prefix = prefix
        self.sync_interval = sync_interval
        self.breakers: dict[str, CircuitBreaker] = {}
        self._script: AsyncScript | None = None
        if redis is not None:
            self.attach_redis(redis)
        self._sync: Periodic | None = None
        self._failing = False

    def attach_redis(self, redis: Redis) -> None:
        """Share state through this Redis (the app's connection, known only at start-up)."""
        self.redis = redis
        self._script = redis.register_script(_SYNC_SCRIPT)

    def get(self, service: str) -> CircuitBreaker:
        breaker = self.breakers.get(service)
        if breaker is None:
            breaker = self.breakers[service] = CircuitBreaker(service, self.policy)
        return breaker

    def watch(self, services: list[str]) -> None:
        """Create the breakers of these services now, so their shared state is followed from
        the start (an instance that never called a service still answers 503 when it is open)."""
        for service in services:
            self.get(service)

    async def start(self) -> None:
        # kit.periodic stops the loop by a flag, not by cancelling it: redis-py swallows a
        # cancellation that lands inside a command now and then (measured: about one in eight
        # cancels during a PING loop), and a loop that relied on it never ended, hanging the
        # gateway's shutdown (tests/gateway/test_gateway_shutdown.py).
        if self._script is not None and self._sync is None:
            self._sync = Periodic(
                "breaker-sync",
                self._sync_round,
                self.sync_interval,
                first_after=self.sync_interval,
                stop_grace=5.0,
            )
            self._sync.start()

    async def close(self) -> None:
        if self._sync is not None:
            await self._sync.stop()
            self._sync = None

    async def _sync_round(self) -> None:
        try:
            await self.sync()
        except RedisError as exc:
            if not self._failing:  # one line per outage, not five a second
                log.warning("breaker_sync_failed", error=str(exc))
            self._failing = True
        else:
            self._failing = False

    async def sync(self) -> None:
        """Push this instance's counts and transitions; adopt the shared state."""
        assert self._script is not None
        policy = self.policy
        for service, breaker in list(self.breakers.items()):
            successes, failures = breaker.unsynced
            breaker.unsynced = [0, 0]
            event, breaker.pending_event = breaker.pending_event, None
            now_ms = int(time.time() * 1000)
            try:
                shared = await self._script(
                    keys=[f"{self.prefix}{service}:w", f"{self.prefix}{service}:s"],
                    args=[
                        successes,
                        failures,
                        now_ms,
                        policy.window_seconds,
                        policy.min_volume,
                        policy.error_rate,
                        int(policy.cool_down_seconds * 1000),
                        event or "",
                    ],
                )
            except RedisError:
                breaker.pending_event = breaker.pending_event or event
                raise
            breaker.adopt(int(shared) / 1000 if shared else 0.0)
