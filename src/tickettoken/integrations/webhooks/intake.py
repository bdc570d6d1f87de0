"""Group commit of accepted deliveries: every event verified while a write is in flight joins
the next write, one transaction (one multi-row INSERT and one enqueue) for all of them.

A provider is answered only once its events are committed (a 200 means stored), but a burst
of N deliveries costs a few transactions instead of N commits queued behind the pool and the
queue's NOTIFY lock: 200 concurrent deliveries are answered within a few commit times.

A batch the database refuses (one delivery's content it cannot store) is written again one
request at a time, so the refusal reaches only the request that carried it; a database that
cannot be reached fails the batch at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from tickettoken.integrations.webhooks.repository import Incoming, store_events
from tickettoken.kit.db import Database
from tickettoken.kit.faults import database_unreachable

MAX_BATCH = 500
WRITERS = 2  # transactions in flight at once


@dataclass(frozen=True)
class Stored:
    received: int
    duplicates: int


@dataclass
class _Waiting:
    items: list[Incoming]
    done: asyncio.Future[set[tuple[str, str]]]


def intake_for(app: Any, database: Database) -> WebhookIntake:
    """The application's intake, made on first use with its database."""
    intake: WebhookIntake | None = getattr(app.state, "webhook_intake", None)
    if intake is None or intake.database is not database:
        intake = app.state.webhook_intake = WebhookIntake(database)
    return intake


@dataclass
class WebhookIntake:
    database: Database
    _waiting: list[_Waiting] = field(default_factory=list)
    _writers: set[asyncio.Task[None]] = field(default_factory=set)

    async def submit(self, items: list[Incoming]) -> Stored:
        if not items:
            return Stored(0, 0)
        done: asyncio.Future[set[tuple[str, str]]] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(items, done))
        if len(self._writers) < WRITERS:
            task = asyncio.create_task(self._write())
            self._writers.add(task)
            task.add_done_callback(self._writers.discard)
        mine = await done
        received = len({item.key for item in items} & mine)
        return Stored(received, len(items) - received)

    async def _write(self) -> None:
        while self._waiting:
            batch: list[_Waiting] = []
            count = 0
            while self._waiting and count < MAX_BATCH:
                waiting = self._waiting.pop(0)
                batch.append(waiting)
                count += len(waiting.items)
            try:
                created = await self._store([item for w in batch for item in w.items])
            except Exception as exc:
                if len(batch) == 1 or database_unreachable(exc):
                    _fail(batch, exc)  # every waiting request answers with the failure
                else:
                    for waiting in batch:
                        await self._write_alone(waiting)
                continue
            _hand_out(batch, created)

    async def _store(self, items: list[Incoming]) -> set[tuple[str, str]]:
        async with self.database.transaction() as session:
            return await store_events(session, items)

    async def _write_alone(self, waiting: _Waiting) -> None:
        try:
            created = await self._store(waiting.items)
        except Exception as exc:
            _fail([waiting], exc)
            return
        _hand_out([waiting], created)


def _fail(batch: list[_Waiting], exc: Exception) -> None:
    for waiting in batch:
        if not waiting.done.done():
            waiting.done.set_exception(exc)


def _hand_out(batch: list[_Waiting], created: set[tuple[str, str]]) -> None:
    """Each new key goes to the first request in the batch that carried it."""
    remaining = set(created)
    for waiting in batch:
        mine = {item.key for item in waiting.items} & remaining
        remaining -= mine
        if not waiting.done.done():
            waiting.done.set_result(mine)
