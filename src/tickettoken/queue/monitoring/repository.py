"""Every query of queue monitoring: samples, throughput history, recent failures.

The job tables belong to the engine (``tickettoken.queue.engine``); this module only reads them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.kit.jobs import TIERS, QueueCounts


async def insert_samples(session: AsyncSession, counts: dict[str, QueueCounts]) -> None:
    """One ``queue_metrics`` row per queue from current counts.

    ``completed`` is the number of jobs completed since the queue's previous sample (the last
    minute for the first one), read through the ``finished_at`` index: a lifetime total would
    scan 90 days of history on every sample.
    """
    for c in counts.values():
        finished = c.completed_last_minute + c.failed_last_minute
        table = TIERS[c.queue].table
        await session.execute(
            text(
                "INSERT INTO queue_metrics (queue_name, waiting, active, completed, failed,"
                " delayed, throughput, failure_rate, oldest_waiting_seconds)"
                " SELECT :q, :waiting, :active, count(*), :failed, :delayed, :throughput,"
                " :failure_rate, :oldest"
                f" FROM {table} WHERE status = 'completed' AND finished_at IS NOT NULL"
                " AND finished_at > coalesce("
                "   (SELECT max(captured_at) FROM queue_metrics WHERE queue_name = :q),"
                "   now() - interval '1 minute')"
            ),
            {
                "q": c.queue,
                "waiting": c.waiting,
                "active": c.active,
                "failed": c.failed + c.dead,
                "delayed": c.delayed,
                "throughput": c.completed_last_minute,
                "failure_rate": (c.failed_last_minute / finished) if finished else 0,
                "oldest": c.oldest_waiting_seconds,
            },
        )


async def throughput_history(
    session: AsyncSession, minutes: int, queue: str | None
) -> list[dict[str, Any]]:
    """Samples of the last ``minutes``: jobs completed per minute and failure rate, per queue."""
    rows = await session.execute(
        text(
            "SELECT queue_name, captured_at, throughput, failure_rate, waiting, active"
            " FROM queue_metrics WHERE captured_at > now() - make_interval(mins => :m)"
            " AND (CAST(:q AS text) IS NULL OR queue_name = :q)"
            " ORDER BY captured_at, queue_name LIMIT 5000"
        ),
        {"m": minutes, "q": queue},
    )
    return [
        {
            "queue": row["queue_name"],
            "captured_at": row["captured_at"].isoformat(),
            "completed_per_minute": float(row["throughput"] or 0),
            "failure_rate": float(row["failure_rate"] or 0),
            "waiting": row["waiting"],
            "active": row["active"],
        }
        for row in rows.mappings()
    ]


async def recent_failures(session: AsyncSession, hours: int) -> list[dict[str, Any]]:
    """Failed and dead jobs finished in the last ``hours``, grouped by queue and type."""
    out: list[dict[str, Any]] = []
    for tier in TIERS.values():
        rows = await session.execute(
            text(
                "SELECT type, count(*) AS failures, max(finished_at) AS last_failed_at,"
                " (array_agg(last_error ORDER BY finished_at DESC))[1] AS last_error"
                f" FROM {tier.table} WHERE status IN ('failed', 'dead')"
                " AND finished_at > now() - make_interval(hours => :h) GROUP BY type"
                " ORDER BY failures DESC"
            ),
            {"h": hours},
        )
        for row in rows.mappings():
            out.append(
                {
                    "queue": tier.queue,
                    "type": row["type"],
                    "failures": int(row["failures"]),
                    "last_failed_at": row["last_failed_at"].isoformat()
                    if row["last_failed_at"]
                    else None,
                    "last_error": row["last_error"],
                }
            )
    return out
