"""Signed-out dashboard sessions, kept in PostgreSQL until the session would have expired.

The session cookie is a signed token that stays valid until its ``exp``; deleting the cookie in
the browser does not stop a copy of it. Signing out therefore records the session's id here, and
every request made with a session cookie checks it. PostgreSQL rather than the key-value store:
every queue-service instance must see the revocation, with Redis or without it, and Redis may
be restarted empty. Rows are deleted once their session has expired (at the next sign-out).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from tickettoken.kit.db import Database

_REVOKE = text(
    """
    WITH expired AS (
        DELETE FROM queue_dashboard_revoked_sessions WHERE expires_at < now()
    )
    INSERT INTO queue_dashboard_revoked_sessions (session_id, expires_at)
    VALUES (:session_id, :expires_at)
    ON CONFLICT (session_id) DO NOTHING
    """
)
_IS_REVOKED = text("SELECT 1 FROM queue_dashboard_revoked_sessions WHERE session_id = :session_id")


async def revoke_session(database: Database, session_id: str, expires_at: int) -> None:
    async with database.transaction() as session:
        await session.execute(
            _REVOKE,
            {"session_id": session_id, "expires_at": datetime.fromtimestamp(expires_at, UTC)},
        )


async def is_revoked(database: Database, session_id: str) -> bool:
    async with database.engine.connect() as conn:
        row = (await conn.execute(_IS_REVOKED, {"session_id": session_id})).first()
    return row is not None
