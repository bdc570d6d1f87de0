"""Doing something once per interval across every instance, with one row in PostgreSQL.

Process memory cannot do this (AUDIT: alert cooldowns in memory re-alert per instance). One
statement decides atomically: the instance whose upsert returns the row has the turn; a
concurrent upsert of the same key waits on the row lock and then finds ``last_sent_at`` fresh.
Used for the ``queue_metrics`` sampler and for alert cooldowns (table ``alert_cooldowns``).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_CLAIM = text(
    "INSERT INTO alert_cooldowns (alert_key, last_sent_at) VALUES (:key, clock_timestamp())"
    " ON CONFLICT (alert_key) DO UPDATE SET last_sent_at = clock_timestamp()"
    " WHERE alert_cooldowns.last_sent_at <= clock_timestamp() - make_interval(secs => :seconds)"
    " RETURNING alert_key"
)


async def claim_turn(session: AsyncSession, key: str, every_seconds: float) -> bool:
    """True for exactly one caller per ``every_seconds`` for ``key`` (commits with the session)."""
    row = (await session.execute(_CLAIM, {"key": key, "seconds": every_seconds})).first()
    return row is not None
