"""``JobClient``: enqueue outside a caller's transaction, straight on asyncpg.

For callers with no business write to commit with the job (the queue service's ``POST /jobs``,
scripts, other processes): each call is its own transaction, usually a single statement (INSERT
with its NOTIFY), without the ORM session around it. Measured here, a SQLAlchemy session
transaction per job costs about 4x a bare asyncpg statement. Communication and background jobs
are written on connections with ``synchronous_commit = off`` (their tiers' promise); money jobs
commit synchronously. Same validation, keys and duplicate handling as ``enqueue``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import asyncpg

from tickettoken.kit.jobs.catalog import PRIORITY_DEFAULT, TIERS
from tickettoken.kit.jobs.enqueue import enqueue_with, queues_of
from tickettoken.kit.jobs.records import EnqueuedJob, JobSpec

_NAMED = re.compile(r"(?<![:\w]):(\w+)")


@lru_cache(maxsize=64)
def _positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """``:name`` parameters -> ``$n`` (asyncpg) and the order of names."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return _NAMED.sub(number, sql), tuple(names)


class ConnectionRunner:
    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.notified: set[str] = set()

    async def fetch(self, sql: str, params: dict[str, Any]) -> Sequence[Mapping[str, Any]]:
        statement, names = _positional(sql)
        rows: Sequence[Mapping[str, Any]] = await self.connection.fetch(
            statement, *(params[name] for name in names)
        )
        return rows


async def _keep_session(connection: Any) -> None:
    """No reset query on release: these connections never change session state (no SET, LISTEN
    or advisory locks), and asyncpg's default reset costs a round trip per call."""


async def _init_connection(connection: Any) -> None:
    await connection.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )


class JobClient:
    """Enqueue jobs, each call committing on its own. ``await JobClient.connect(url)``."""

    def __init__(self, durable: Any, relaxed: Any) -> None:
        self._durable = durable
        self._relaxed = relaxed

    @classmethod
    async def connect(cls, url: str, *, max_size: int = 10) -> JobClient:
        dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        durable = await asyncpg.create_pool(
            dsn, min_size=1, max_size=max_size, init=_init_connection, reset=_keep_session
        )
        relaxed = await asyncpg.create_pool(
            dsn,
            min_size=1,
            max_size=max_size,
            init=_init_connection,
            reset=_keep_session,
            server_settings={"synchronous_commit": "off"},
        )
        return cls(durable, relaxed)

    async def close(self) -> None:
        await self._durable.close()
        await self._relaxed.close()

    async def enqueue(
        self,
        *,
        queue: str,
        type: str,
        payload: dict[str, Any],
        priority: int = PRIORITY_DEFAULT,
        delay: float = 0,
        max_attempts: int | None = None,
        idempotency_key: str | None = None,
        venue_id: str | None = None,
    ) -> EnqueuedJob:
        spec = JobSpec(
            queue, type, payload, priority, delay, max_attempts, idempotency_key, venue_id
        )
        return (await self.enqueue_many([spec]))[0]

    async def enqueue_many(self, specs: Sequence[JobSpec]) -> list[EnqueuedJob]:
        """Jobs of several queues commit together; one queue's jobs are one statement."""
        queues = queues_of(specs)
        durable = any(TIERS[q].synchronous_commit for q in queues if q in TIERS)
        pool = self._durable if durable else self._relaxed
        async with pool.acquire() as connection:
            runner = ConnectionRunner(connection)
            if len(queues) > 1:
                async with connection.transaction():
                    return await enqueue_with(runner, specs)
            return await enqueue_with(runner, specs)
