"""Buckets in PostgreSQL, for installations without Redis: every worker and the queue service
on the same database share one bucket per provider (tables of migration
``0009_rate_limit_state``). Each operation is one statement; a grant is one call of
``tickettoken_rate_limit_acquire``, which locks the provider's bucket row, so a token and a
slot are taken atomically. The database's clock is the shared clock."""

from __future__ import annotations

from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.engine import Result

from tickettoken.kit.db import Database
from tickettoken.kit.faults import database_unreachable
from tickettoken.queue.ratelimit.limits import LimiterState, LimiterStoreError, ProviderLimit

_NOW_MS = "floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

_ACQUIRE = text(
    "SELECT tickettoken_rate_limit_acquire(:name, :rate, :burst, :concurrency, :holder, :lease)"
)
_RELEASE = text("DELETE FROM rate_limit_slots WHERE name = :name AND holder = :holder")
_RENEW = text(
    f"UPDATE rate_limit_slots SET expires_ms = {_NOW_MS} + :lease"
    " WHERE name = :name AND holder = :holder"
)
# Empty the bucket and hold refill back until now + retry-after (never shorten a penalty).
_PENALIZE = text(
    "INSERT INTO rate_limit_buckets AS b (name, tokens, ts_ms)"
    f" VALUES (:name, 0, {_NOW_MS} + :retry_after)"
    " ON CONFLICT (name) DO UPDATE SET tokens = 0, ts_ms = greatest(b.ts_ms, EXCLUDED.ts_ms)"
)
# Live leases are kept: they belong to calls in flight and expire by themselves.
_RESET = text("DELETE FROM rate_limit_buckets WHERE name = :name")
_RECORD = text(
    "UPDATE rate_limit_buckets SET waited_ms = waited_ms + :waited, timeouts = timeouts + :timeout"
    " WHERE name = :name"
)
_STATE = text(
    f"SELECT b.tokens, b.ts_ms - n.now_ms AS ahead_ms, b.acquired, b.waited_ms, b.timeouts,"
    " (SELECT count(*) FROM rate_limit_slots s WHERE s.name = :name AND s.expires_ms > n.now_ms)"
    f" AS in_flight FROM (SELECT {_NOW_MS} AS now_ms) n"
    " LEFT JOIN rate_limit_buckets b ON b.name = :name"
)
# The counters as they were, zeroed in the same statement (for the metrics sampler).
_DRAIN = text(
    "UPDATE rate_limit_buckets b SET acquired = 0, waited_ms = 0, timeouts = 0"
    " FROM (SELECT acquired, waited_ms, timeouts FROM rate_limit_buckets"
    " WHERE name = :name FOR UPDATE) old"
    " WHERE b.name = :name RETURNING old.acquired, old.waited_ms, old.timeouts"
)


def _refilled(tokens: float, ahead_ms: float, limit: ProviderLimit) -> tuple[float, float]:
    if ahead_ms > 0:
        return tokens, ahead_ms / 1000
    return min(float(limit.burst), tokens + (-ahead_ms) * limit.rate / 1000), 0.0


class PostgresBackend:
    """Buckets in PostgreSQL, shared by every process that uses the same database."""

    def __init__(
        self, database: Database, *, prefix: str = "", owns_database: bool = False
    ) -> None:
        self.database = database
        self.prefix = prefix
        self.owns_database = owns_database
        # One statement per operation, each its own transaction: no BEGIN/COMMIT round trips.
        self._engine = database.engine.execution_options(isolation_level="AUTOCOMMIT")

    async def _execute(self, statement: TextClause, params: dict[str, Any]) -> Result[Any]:
        params["name"] = self.prefix + params["name"]
        try:
            async with self._engine.connect() as conn:
                return await conn.execute(statement, params)
        except Exception as exc:
            if database_unreachable(exc):  # the limiter retries until its deadline
                raise LimiterStoreError(f"rate limiter database unreachable: {exc}") from exc
            raise

    async def try_acquire(self, name: str, limit: ProviderLimit, holder: str, lease_ms: int) -> int:
        params = {
            "name": name,
            "rate": float(limit.rate),
            "burst": limit.burst,
            "concurrency": limit.concurrency,
            "holder": holder,
            "lease": lease_ms,
        }
        return int((await self._execute(_ACQUIRE, params)).scalar_one())

    async def release(self, name: str, holder: str) -> None:
        await self._execute(_RELEASE, {"name": name, "holder": holder})

    async def renew(self, name: str, holder: str, lease_ms: int) -> None:
        await self._execute(_RENEW, {"name": name, "holder": holder, "lease": lease_ms})

    async def penalize(self, name: str, limit: ProviderLimit, retry_after_ms: int) -> None:
        await self._execute(_PENALIZE, {"name": name, "retry_after": retry_after_ms})

    async def reset(self, name: str, limit: ProviderLimit) -> None:
        await self._execute(_RESET, {"name": name})

    async def record(self, name: str, waited_ms: int, timed_out: bool) -> None:
        await self._execute(_RECORD, {"name": name, "waited": waited_ms, "timeout": int(timed_out)})

    async def state(self, name: str, limit: ProviderLimit, drain_counters: bool) -> LimiterState:
        row = (await self._execute(_STATE, {"name": name})).mappings().one()
        counters = row
        if drain_counters and row["tokens"] is not None:
            drained = (await self._execute(_DRAIN, {"name": name})).mappings().first()
            counters = drained if drained is not None else row
        if row["tokens"] is None:
            tokens, penalty = float(limit.burst), 0.0
        else:
            tokens, penalty = _refilled(float(row["tokens"]), float(row["ahead_ms"]), limit)
        return LimiterState(
            name,
            limit.rate,
            limit.burst,
            limit.concurrency,
            tokens,
            int(row["in_flight"]),
            penalty,
            int(counters["acquired"] or 0),
            int(counters["waited_ms"] or 0),
            int(counters["timeouts"] or 0),
        )

    async def aclose(self) -> None:
        if self.owns_database:
            await self.database.dispose()
