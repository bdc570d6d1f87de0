"""Buckets in Redis: every decision is one Lua script, with Redis ``TIME`` as the shared clock,
so all processes on all machines that use the same Redis see one bucket per provider."""

from __future__ import annotations

from redis.asyncio import Redis

from tickettoken.kit.provider_limits.limits import LimiterState, ProviderLimit

# KEYS: bucket hash, slots zset. ARGV: rate/s, burst, concurrency, holder, lease ms.
# Bucket fields: tokens, ts (ms; refill starts here, may be in the future after a penalty).
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local conc = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
  ts = now
end
local ttl = math.ceil(burst / rate * 1000) + (ts - now) + 60000
local wait = 0
if tokens < 1 then
  wait = (ts - now) + math.ceil((1 - tokens) * 1000 / rate)
elseif redis.call('ZCARD', KEYS[2]) >= conc then
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  wait = math.max(1, math.min(25, tonumber(first[2]) - now))
else
  tokens = tokens - 1
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[5]), ARGV[4])
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[5]) + 60000)
  redis.call('HINCRBY', KEYS[3], 'acquired', 1)
  redis.call('PEXPIRE', KEYS[3], 86400000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[1], ttl)
return wait
"""

# KEYS: bucket hash. ARGV: burst, rate, retry-after ms.
_PENALIZE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = now + tonumber(ARGV[3])
local ts = tonumber(redis.call('HGET', KEYS[1], 'ts') or '0')
if ts > until_ms then until_ms = ts end
redis.call('HSET', KEYS[1], 'tokens', '0', 'ts', tostring(until_ms))
local refill_ms = math.ceil(tonumber(ARGV[1]) / tonumber(ARGV[2]) * 1000)
redis.call('PEXPIRE', KEYS[1], (until_ms - now) + refill_ms + 60000)
return until_ms - now
"""

# KEYS: slots zset. ARGV: holder, lease ms. Renews only a lease that still exists.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[1])
"""

# KEYS: bucket, slots, stats. ARGV: drain counters (1/0). Returns tokens, ts-now, in flight, stats.
_STATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local s = redis.call('HMGET', KEYS[3], 'acquired', 'waited_ms', 'timeouts')
if ARGV[1] == '1' then redis.call('DEL', KEYS[3]) end
return {b[1] or false, b[2] and tostring(tonumber(b[2]) - now) or false,
        redis.call('ZCARD', KEYS[2]), s[1] or '0', s[2] or '0', s[3] or '0'}
"""


class RedisBackend:
    """Buckets in Redis, shared by every process that uses the same Redis and prefix."""

    def __init__(self, client: Redis, *, prefix: str = "tt:rl:", owns_client: bool = False) -> None:
        self.client = client
        self.prefix = prefix
        self.owns_client = owns_client
        self._acquire = client.register_script(_ACQUIRE)
        self._penalize = client.register_script(_PENALIZE)
        self._renew = client.register_script(_RENEW)
        self._state = client.register_script(_STATE)

    def _keys(self, name: str) -> list[str]:
        # One hash tag per limiter keeps the keys in one slot on Redis Cluster.
        base = f"{self.prefix}{{{name}}}"
        return [f"{base}:bucket", f"{base}:slots", f"{base}:stats"]

    async def try_acquire(self, name: str, limit: ProviderLimit, holder: str, lease_ms: int) -> int:
        args: list[str | int | float] = [
            limit.rate,
            limit.burst,
            limit.concurrency,
            holder,
            lease_ms,
        ]
        return int(await self._acquire(keys=self._keys(name), args=args))

    async def release(self, name: str, holder: str) -> None:
        await self.client.zrem(self._keys(name)[1], holder)

    async def renew(self, name: str, holder: str, lease_ms: int) -> None:
        await self._renew(keys=[self._keys(name)[1]], args=[holder, lease_ms])

    async def penalize(self, name: str, limit: ProviderLimit, retry_after_ms: int) -> None:
        await self._penalize(
            keys=[self._keys(name)[0]], args=[limit.burst, limit.rate, retry_after_ms]
        )

    async def reset(self, name: str, limit: ProviderLimit) -> None:
        bucket, _slots, stats = self._keys(name)
        # Live leases are kept: they belong to calls in flight and expire by themselves.
        await self.client.delete(bucket, stats)

    async def record(self, name: str, waited_ms: int, timed_out: bool) -> None:
        stats = self._keys(name)[2]
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hincrby(stats, "waited_ms", waited_ms)
            if timed_out:
                pipe.hincrby(stats, "timeouts", 1)
            pipe.pexpire(stats, 86_400_000)
            await pipe.execute()

    async def state(self, name: str, limit: ProviderLimit, drain_counters: bool) -> LimiterState:
        raw = await self._state(keys=self._keys(name), args=["1" if drain_counters else "0"])
        tokens_raw, ahead_raw, in_flight, acquired, waited, timeouts = raw
        stored = None
        if tokens_raw is not None and ahead_raw is not None:
            stored = (float(tokens_raw), float(ahead_raw))
        counters = (int(acquired), int(waited), int(timeouts))
        return LimiterState.from_store(name, limit, stored, int(in_flight), counters)

    async def aclose(self) -> None:
        if self.owns_client:
            await self.client.aclose()
