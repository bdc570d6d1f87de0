"""``cleanup-old-data``: apply the retention periods (SPEC section 6).

Metrics (queue and rate-limit samples) 30 days, alerts 7 days, job history (finished jobs,
dead letters) 90 days, expired idempotency keys of jobs and of HTTP requests. A payload may
keep data longer (``jobs_days: 120``) but never shorter: the periods are floors, checked at
enqueue and again here by the same model (``kit.jobs.payloads.CleanupOldData``). Deletes run in
chunks so no statement holds locks on a large table for long. The queue service schedules this
job once a day (``tickettoken.queue.maintenance``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tickettoken.kit import idempotency
from tickettoken.kit.jobs import TIERS, JobContext
from tickettoken.kit.jobs.payloads import CleanupOldData, read

CHUNK = 5000

# target name -> (table, key column, condition with :days)
TARGETS: dict[str, tuple[str, str, str, str]] = {
    "queue_metrics": (
        "queue_metrics",
        "id",
        "captured_at < now() - make_interval(days => :days)",
        "metrics",
    ),
    "rate_limit_metrics": (
        "rate_limit_metrics",
        "id",
        "captured_at < now() - make_interval(days => :days)",
        "metrics",
    ),
    "alert_history": (
        "alert_history",
        "id",
        "created_at < now() - make_interval(days => :days)",
        "alerts",
    ),
    "dead_letter_jobs": (
        "dead_letter_jobs",
        "id",
        "failed_at < now() - make_interval(days => :days)",
        "jobs",
    ),
    **{
        tier.table: (
            tier.table,
            "id",
            "status IN ('completed', 'failed', 'cancelled', 'dead')"
            " AND COALESCE(finished_at, updated_at) < now() - make_interval(days => :days)",
            "jobs",
        )
        for tier in TIERS.values()
    },
}


async def cleanup_old_data(ctx: JobContext) -> dict[str, Any]:
    days = read(CleanupOldData, ctx.payload).days()
    deleted: dict[str, int] = {}
    for name, (table, key, condition, kind) in TARGETS.items():
        total = 0
        while True:
            async with ctx.database.transaction() as session:
                result = await session.execute(
                    text(
                        f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table}"
                        f" WHERE {condition} LIMIT {CHUNK})"
                    ),
                    {"days": days[kind]},
                )
            count = int(getattr(result, "rowcount", 0) or 0)
            total += count
            if count < CHUNK:
                break
        deleted[name] = total
    async with ctx.database.transaction() as session:
        result = await session.execute(
            text("DELETE FROM idempotency_keys WHERE expires_at < now()")
        )
        deleted["idempotency_keys"] = int(getattr(result, "rowcount", 0) or 0)
        deleted["idempotency_records"] = await idempotency.purge_expired(session)
    return {"deleted": deleted, "retention_days": days}
