"""Which database a process uses: the configured one, or the embedded server."""

from __future__ import annotations

from pathlib import Path

from tickettoken.kit.settings import Settings


def resolve_database_url(settings: Settings) -> str:
    """The configured URL, else start (or join) the embedded PostgreSQL and return its URL."""
    configured = settings.sqlalchemy_url()
    if configured:
        return configured
    from tickettoken.kit.embedded_pg import EmbeddedPostgres

    return EmbeddedPostgres(Path(settings.embedded_pg_dir)).start()
