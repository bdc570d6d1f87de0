"""Run the platform's migrations from code.

The Alembic `Config` is built here, pointing at this package's directory, so no alembic.ini is
needed and nothing reads the application's settings: callers pass the database URL. Migrations run
on psycopg2 (synchronous, so they can be called before an event loop exists or from a thread);
URLs written for asyncpg or with the `postgres://` scheme are converted.

Several instances may start at once: `env.py` takes a transaction-level advisory lock
(`MIGRATION_LOCK_KEY`) before reading the current revision, so only one of them migrates and the
others find the database at head. Within one process, calls are serialised by a lock, because
Alembic's `context` and `op` are process-wide proxies that two threads cannot use at once.
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

MIGRATIONS_DIR = Path(__file__).resolve().parent

# Key of the pg_advisory_xact_lock held while migrating (any constant bigint; "TT" + 3011 + 0001).
MIGRATION_LOCK_KEY = 8484_3011_0001

# Alembic's `context`/`op` proxies are module globals: one migration command per process at a time.
_COMMAND_LOCK = threading.Lock()

# Query parameters understood by asyncpg (or SQLAlchemy's asyncpg dialect) but not by libpq.
_ASYNCPG_ONLY_PARAMS = frozenset(
    {
        "prepared_statement_cache_size",
        "prepared_statement_name_func",
        "statement_cache_size",
        "max_cached_statement_lifetime",
        "max_cacheable_statement_size",
        "command_timeout",
        "server_settings",
        "direct_tls",
    }
)
_ASYNCPG_SSL_TO_SSLMODE = {"true": "require", "false": "disable"}


def sync_url(database_url: str) -> URL:
    """The psycopg2 form of a PostgreSQL URL (`postgres://`, `postgresql://`, `+asyncpg`...)."""
    url = make_url(database_url.strip())
    backend = url.drivername.split("+", 1)[0]
    if backend not in ("postgres", "postgresql"):
        raise ValueError(f"not a PostgreSQL URL: {url.render_as_string(hide_password=True)}")
    query = {k: v for k, v in url.query.items() if k not in _ASYNCPG_ONLY_PARAMS}
    ssl = query.pop("ssl", None)
    if isinstance(ssl, str) and "sslmode" not in query:
        query["sslmode"] = _ASYNCPG_SSL_TO_SSLMODE.get(ssl.lower(), ssl)
    return url.set(drivername="postgresql+psycopg2", query=query)


def make_config(database_url: str | None = None) -> Config:
    """An Alembic Config for this package's migrations; the URL travels in `config.attributes`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if database_url is not None:
        config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Upgrade the database to `revision`."""
    with _COMMAND_LOCK:
        command.upgrade(make_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    """Downgrade the database to `revision` (`base` removes every table of the platform)."""
    with _COMMAND_LOCK:
        command.downgrade(make_config(database_url), revision)


def upgrade_to_head(database_url: str) -> None:
    """Create or bring the platform's schema up to date. Safe to call from several instances."""
    upgrade(database_url, "head")


def downgrade_to_base(database_url: str) -> None:
    """Drop everything the migrations created (the alembic_version table stays, empty)."""
    downgrade(database_url, "base")


def current_revision(database_url: str) -> str | None:
    """The revision the database is at, or None for a database never migrated."""
    engine = create_engine(sync_url(database_url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    """The newest revision of the history shipped with this package."""
    return ScriptDirectory.from_config(make_config()).get_current_head()
