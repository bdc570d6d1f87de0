"""Which failures mean "the database cannot be reached" (answered 503, retry later) and which
are bugs (answered 500).

A database that is stopped, restarting, unreachable or refusing connections fails a request in
many shapes: ``OSError`` from the connect call, asyncpg's connection and operator-intervention
errors (the server is shutting down, cannot accept connections now, too many connections), an
asyncpg error wrapped by SQLAlchemy in ``DBAPIError`` (``connection_invalidated`` when a pooled
connection died), a connect or pool timeout. The request could not be served, but nothing is
wrong with it: the client gets ``503 SERVICE_UNAVAILABLE`` with ``Retry-After`` and the log gets
one line. Everything else (a constraint we did not expect, bad SQL) stays a 500 with a traceback.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import asyncpg
from sqlalchemy import exc as sa_exc

# Seconds a client should wait before retrying a request that met an unreachable database.
DATABASE_RETRY_AFTER_SECONDS = 2

_UNREACHABLE_SQLSTATES = {
    "57P01",  # admin_shutdown: terminating connection due to administrator command
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now: the database system is starting up / shutting down
    "53300",  # too_many_connections
}
_UNREACHABLE_MESSAGES = (
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "connection is closed",
    "connection was closed",
    "cannot connect now",
    # asyncpg, on a pooled connection whose previous statement the server's exit cut off
    "another operation",
)
# OSError subclasses that are about files and processes, not connections: those are bugs.
_LOCAL_OS_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
    ChildProcessError,
    ProcessLookupError,
    InterruptedError,
    BlockingIOError,
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what it wraps (``orig``) and its causes and contexts, each once."""
    seen: set[int] = set()
    pending = [exc]
    while pending and len(seen) < 16:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (getattr(current, "orig", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                pending.append(linked)


def _unreachable(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection came free in time
        return True
    if isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.CannotConnectNowError):
        return True
    if getattr(exc, "sqlstate", None) in _UNREACHABLE_SQLSTATES:
        return True
    if isinstance(
        exc,
        asyncpg.PostgresError
        | asyncpg.InterfaceError
        | asyncpg.InternalClientError
        | sa_exc.DBAPIError,
    ):
        message = str(exc).lower()
        return any(text in message for text in _UNREACHABLE_MESSAGES)
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return True
    return isinstance(exc, OSError) and not isinstance(exc, _LOCAL_OS_ERRORS)


def database_unreachable(exc: BaseException) -> bool:
    """True when ``exc`` (or what it wraps) says the database could not be reached or went away
    under the request, rather than that the request or our code is wrong."""
    return any(_unreachable(link) for link in _chain(exc))


def describe(exc: BaseException) -> str:
    """A one-line reason for the log: the innermost error's type and first line, never the SQL
    or parameters that ``DBAPIError`` carries."""
    links = list(_chain(exc))
    innermost = next((link for link in reversed(links) if _unreachable(link)), links[-1])
    if isinstance(innermost, sa_exc.StatementError) and innermost.orig is not None:
        innermost = innermost.orig
    first_line = (str(innermost).strip().splitlines() or [""])[0][:200]
    return f"{type(innermost).__name__}: {first_line}"
