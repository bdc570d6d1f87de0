"""The one write of the queues domain that is not the engine's: clearing a queue."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.kit.jobs import TIERS


async def cancel_waiting(session: AsyncSession, queue: str) -> int:
    """Cancel (not delete) a queue's waiting and delayed jobs; returns how many.

    The admin ``clear`` of the original deleted everything; here it touches only jobs that have
    not started, of one queue, and keeps them as ``cancelled`` rows: the money tier promises an
    audit trail, and a cancelled job can still be retried.
    """
    result = await session.execute(
        text(
            f"UPDATE {TIERS[queue].table} SET status = 'cancelled', finished_at = now(),"
            " updated_at = now() WHERE status = 'queued'"
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
