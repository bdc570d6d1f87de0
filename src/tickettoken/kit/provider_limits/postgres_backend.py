"""Buckets in PostgreSQL, for installations without Redis: every worker and the queue service
on the same database share one bucket per provider (tables of migration
``0008_rate_limit_state``). Each operation is one statement; a grant is one call of
``tickettoken_rate_limit_acquire``, which locks the provider's bucket row, so a token and a
slot are taken atomically. The database's clock is the shared clock."""

from __future__ import annotations

from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.engine import Result
from sqlalchemy.exc import DBAPIError

from tickettoken.kit.db import Database
from tickettoken.kit.faults import database_unreachable
from tickettoken.kit.provider_limits.limits import LimiterState, LimiterStoreError, ProviderLimit

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


class PostgresBackend:
    """Buckets in PostgreSQL, shared by every process that uses the same database."""

    def __init__(
        self, database: Database, *, prefix: str = "", owns_database: bool = False
    ) -> None:
        """``database`` is best built with ``single_statements=True`` (one round trip per
        decision); any ``Database`` works."""
        self.database = database
        self.prefix = prefix
        self.owns_database = owns_database
        self._engine = database.engine.execution_options(isolation_level="AUTOCOMMIT")

    async def _execute(self, statement: TextClause, params: dict[str, Any]) -> Result[Any]:
        params["name"] = self.prefix + params["name"]
        for attempt in (1, 2):
            try:
                async with self._engine.connect() as conn:
                    return await conn.execute(statement, params)
            except DBAPIError as exc:
                # A pooled connection that died with a restarted server is discarded: once more
                # on a fresh one (the statement never reached a server that could run it).
                if attempt == 1 and exc.connection_invalidated:
                    continue
                self._raise_unreachable(exc)
                raise
            except Exception as exc:
                self._raise_unreachable(exc)
                raise
        raise AssertionError("unreachable: the loop returns or raises")

    @staticmethod
    def _raise_unreachable(exc: Exception) -> None:
        if database_unreachable(exc):  # the limiter retries until its deadline
            raise LimiterStoreError(f"rate limiter database unreachable: {exc}") from exc

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
        stored = None
        if row["tokens"] is not None:
            stored = (float(row["tokens"]), float(row["ahead_ms"]))
        usage = (
            int(counters["acquired"] or 0),
            int(counters["waited_ms"] or 0),
            int(counters["timeouts"] or 0),
        )
        return LimiterState.from_store(name, limit, stored, int(row["in_flight"]), usage)

    async def aclose(self) -> None:
        if self.owns_database:
            await self.database.dispose()
