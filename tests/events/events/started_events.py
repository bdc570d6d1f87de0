"""Test helper: an event that has already started (the API refuses to create one, by design)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine


async def move_start_into_the_past(db: AsyncEngine, event_id: str, hours: float = 1) -> None:
    """Set the event's start (and doors) ``hours`` ago, keeping it running for 3 more hours."""
    start = datetime.now(UTC) - timedelta(hours=hours)
    async with db.begin() as connection:
        await connection.execute(
            sa.text(
                "UPDATE events SET start_date = :start, end_date = :end, doors_open = NULL"
                " WHERE id = :id"
            ),
            {"start": start, "end": start + timedelta(hours=hours + 3), "id": event_id},
        )
