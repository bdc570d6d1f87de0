"""Alembic environment of the platform's single migration history.

The database comes from, in order: `config.attributes["connection"]` (an open SQLAlchemy
connection), `config.attributes["database_url"]` (set by `tickettoken.migrations.runner`), the
alembic command line (`-x url=...`), the `sqlalchemy.url` option, or `DATABASE_URL`. Nothing here
imports the application's settings.

Migrations are hand-written DDL (no autogenerate), so there is no target metadata. The whole run is
one transaction holding an advisory lock, so concurrent starts migrate once.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

from tickettoken.migrations.runner import MIGRATION_LOCK_KEY, sync_url

config = context.config


def _database_url() -> str:
    url = config.attributes.get("database_url")
    if isinstance(url, str) and url:
        return url
    url = context.get_x_argument(as_dictionary=True).get("url")
    if url:
        return url
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("DATABASE_URL")
    if url:
        return url
    raise RuntimeError("no database URL: pass one to tickettoken.migrations.runner or -x url=...")


def _run_with(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=sync_url(_database_url()),
        target_metadata=None,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run_with(connection)
        return
    engine = create_engine(sync_url(_database_url()), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            _run_with(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
