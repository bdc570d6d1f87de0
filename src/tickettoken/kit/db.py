"""The async database engine and the request-scoped session.

The request dependency owns the transaction: it commits when the handler returns and rolls back
when it raises. Services only ``flush()``, so that everything a request does (including jobs it
enqueues) commits or rolls back together.

Routes take the session as ``session: DbSession``. Its transaction is the yield dependency
``get_request_transaction`` (``RequestTx``, begun on first use, so a route that answers without
the database pays for no session) with ``scope="function"``: FastAPI's default scope for yield
dependencies ("request") runs their exit *after the response has been sent*, so the commit would
happen after the client already has its answer (a read right after a write could miss it, and a
failed commit would go unreported).
Work that must follow the commit (cache invalidation, notifications to other processes) is
registered with ``after_commit`` and runs only once the commit succeeded.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from tickettoken.kit.errors import ServiceUnavailable

# 19 digits in a row may be an integer beyond 64 bits, which orjson would read as a float
_LONG_DIGITS = re.compile(r"\d{19}")


def read_json(text_value: str) -> Any:
    """A json/jsonb value as PostgreSQL sends it, parsed with orjson (the sync engine's work
    items carry hundreds of records each: the standard library's parser was a twentieth of the
    worker's CPU). The standard library parses what orjson refuses or would round (a number
    beyond 64 bits: Python's ints keep every digit)."""
    if _LONG_DIGITS.search(text_value) is None:
        try:
            return orjson.loads(text_value)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text_value)


class Database:
    """An engine plus a session factory. One per process and service."""

    def __init__(
        self,
        url: str,
        *,
        pool_min: int = 2,
        pool_max: int = 10,
        echo: bool = False,
        single_statements: bool = False,
    ):
        """``single_statements``: an engine for callers that only send single statements in
        autocommit and retry a statement that met a dead connection themselves; it skips the
        ping on checkout and the rollback on return (one round trip per statement, not three)."""
        self.url = url
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=max(pool_min, 1),
            max_overflow=max(pool_max - pool_min, 0),
            pool_pre_ping=not single_statements,
            pool_reset_on_return=None if single_statements else "rollback",
            isolation_level="AUTOCOMMIT" if single_statements else None,
            pool_recycle=1800,
            echo=echo,
            connect_args={
                "server_settings": {"application_name": "tickettoken"},
                "command_timeout": 30,
                "timeout": 5,
            },
            json_deserializer=read_json,
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits on normal exit and rolls back on an exception."""
        async with self.sessions() as session, committing(session):
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


@asynccontextmanager
async def committing(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Commit the session's transaction on normal exit, roll it back on an exception."""
    try:
        yield session
        await session.commit()
    except BaseException:
        await session.rollback()
        raise


def get_database(request: Request) -> Database:
    database = getattr(request.app.state, "database", None)
    if not isinstance(database, Database):
        raise ServiceUnavailable("Database is not configured")
    return database


AfterCommit = Callable[[], Awaitable[None]]
_AFTER_COMMIT = "tickettoken_after_commit"


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` once the request's transaction has committed (never on rollback)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


class RequestTransaction:
    """The request's one transaction, begun when first asked for: a route that may finish
    without the database (the flash sale's fast path) pays for no session (measured: creating,
    committing and closing an unused one costs about 50-100 us of CPU per request)."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._session: AsyncSession | None = None

    async def session(self) -> AsyncSession:
        """The request's session (the same one every time it is asked for)."""
        if self._session is None:
            self._session = self._database.sessions()
        return self._session

    @property
    def begun(self) -> bool:
        return self._session is not None


@asynccontextmanager
async def request_transaction(database: Database) -> AsyncIterator[RequestTransaction]:
    """One transaction per request: committed on success, rolled back on error, then the
    ``after_commit`` callbacks; nothing at all if nobody asked for the session.

    Routes get it as the ``RequestTx`` dependency; a hot route whose fast path needs no session
    opens it itself, only when it needs it (see ``events/reservations/routes.py``)."""
    transaction = RequestTransaction(database)
    try:
        yield transaction
    except BaseException:
        if transaction._session is not None:
            await transaction._session.close()  # rolls back
        raise
    session = transaction._session
    if session is None:
        return
    async with session, committing(session):
        pass
    callbacks: list[AfterCommit] = session.info.pop(_AFTER_COMMIT, [])
    for callback in callbacks:
        await callback()


async def get_request_transaction(request: Request) -> AsyncIterator[RequestTransaction]:
    """``request_transaction`` as a request dependency (``RequestTx``)."""
    async with request_transaction(get_database(request)) as transaction:
        yield transaction


RequestTx = Annotated[RequestTransaction, Depends(get_request_transaction, scope="function")]
"""The request's transaction, begun on first use (``await tx.session()``); shares its session
with ``DbSession`` in the same request."""


async def get_session(transaction: RequestTx) -> AsyncSession:
    """The request's session (see ``get_request_transaction``). Use through ``DbSession``."""
    return await transaction.session()


DbSession = Annotated[AsyncSession, Depends(get_session)]
