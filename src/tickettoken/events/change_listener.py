"""Drop cached event data when the database says an event's counts changed outside the API.

Payments, refunds and expired holds are applied by workers and sweepers, not by a request of
this process, so no request can invalidate the caches for them. The migration's trigger
``ticket_types_notify_event_changed`` sends ``NOTIFY tickettoken_event_changed, '<event id>'``
for those changes (not for new holds: the API invalidates those itself, and the flash-sale hot
path stays free of NOTIFY). Every instance listens on its own connection and invalidates its
cache, so the in-process cache of each node stays correct too.

A lost connection is re-opened after a pause; notifications sent meanwhile are lost, which the
caches' short TTL bounds.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI

from tickettoken.events.cache import invalidate_event
from tickettoken.kit.db import Database
from tickettoken.kit.kv import KeyValueStore

log = structlog.get_logger(__name__)

CHANNEL = "tickettoken_event_changed"
RECONNECT_PAUSE_SECONDS = 1.0


class EventChangeListener:
    """Owns one LISTEN connection and a task that turns notifications into invalidations."""

    def __init__(self, database: Database, kv: KeyValueStore) -> None:
        self._database = database
        self._kv = kv
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-change-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), timeout=5)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _connect(self) -> asyncpg.Connection:
        engine = self._database.engine
        args, params = engine.dialect.create_connect_args(engine.url)
        connection: asyncpg.Connection = await asyncpg.connect(*args, **params)
        return connection

    async def _run(self) -> None:
        while True:
            try:
                await self._listen_once()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("event_change_listener_lost", error=str(exc))
            self._listening.clear()
            await asyncio.sleep(RECONNECT_PAUSE_SECONDS)

    async def _listen_once(self) -> None:
        connection = await self._connect()
        # Event ids as they arrive; None when the connection closes.
        changed: asyncio.Queue[str | None] = asyncio.Queue()

        def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            changed.put_nowait(payload)

        try:
            connection.add_termination_listener(lambda _conn: changed.put_nowait(None))
            await connection.add_listener(CHANNEL, on_notify)
            self._listening.set()
            while (event_id := await changed.get()) is not None:
                await invalidate_event(self._kv, event_id)
            raise asyncpg.InterfaceError("listen connection closed")
        finally:
            if not connection.is_closed():
                await connection.close()


async def start_event_change_listener(app: FastAPI) -> None:
    database = getattr(app.state, "database", None)
    if not isinstance(database, Database):
        return
    listener = EventChangeListener(database, app.state.kv)
    app.state.event_change_listener = listener
    await listener.start()


async def stop_event_change_listener(app: FastAPI) -> None:
    listener = getattr(app.state, "event_change_listener", None)
    if isinstance(listener, EventChangeListener):
        await listener.stop()
