"""The counts the metrics summary reads besides the job tables: open dead letters and alerts."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def open_dead_letters(session: AsyncSession) -> int:
    count = await session.scalar(
        text("SELECT count(*) FROM dead_letter_jobs WHERE requeued_at IS NULL")
    )
    return int(count or 0)


async def unacknowledged_alerts(session: AsyncSession) -> int:
    count = await session.scalar(text("SELECT count(*) FROM alert_history WHERE NOT acknowledged"))
    return int(count or 0)
