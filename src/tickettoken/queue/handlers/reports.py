"""``generate-report``: compute a report from the queue service's tables and store it in
``reports`` (status pending -> running -> completed, or failed with the error).

Report types: ``queue-activity`` (jobs per queue and status, failures, created in the period) and
``analytics-summary`` (analytics events per type and per day in the period). The period is
``parameters.from``/``to`` (ISO times; default the last 7 days).

A report belongs to whoever requested it (``requested_by``, set by the queue service from the
caller, never from the data): a job naming the ``report_id`` of another requester's report fails
and leaves that report as it was.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.kit.jobs import TIERS, JobContext, PermanentJobError
from tickettoken.kit.jobs.payloads import GenerateReport, ReportPeriod, read


def _period(parameters: ReportPeriod) -> tuple[datetime, datetime]:
    end = parameters.to or datetime.now(UTC)
    start = parameters.from_ or end - timedelta(days=7)
    if start >= end:
        raise PermanentJobError("from must be before to")
    return start, end


async def _queue_activity(session: AsyncSession, start: datetime, end: datetime) -> dict[str, Any]:
    queues: dict[str, Any] = {}
    for tier in TIERS.values():
        rows = await session.execute(
            text(
                f"SELECT status, type, count(*) AS n FROM {tier.table}"
                " WHERE created_at >= :s AND created_at < :e GROUP BY status, type"
            ),
            {"s": start, "e": end},
        )
        by_status: dict[str, int] = {}
        by_type: dict[str, int] = {}
        for status, job_type, n in rows:
            by_status[status] = by_status.get(status, 0) + n
            by_type[job_type] = by_type.get(job_type, 0) + n
        queues[tier.queue] = {
            "total": sum(by_status.values()),
            "by_status": by_status,
            "by_type": by_type,
        }
    dead = (
        await session.execute(
            text("SELECT count(*) FROM dead_letter_jobs WHERE failed_at >= :s AND failed_at < :e"),
            {"s": start, "e": end},
        )
    ).scalar_one()
    return {"queues": queues, "dead_letters": dead}


async def _analytics_summary(
    session: AsyncSession, start: datetime, end: datetime, venue_id: str | None
) -> dict[str, Any]:
    params: dict[str, Any] = {"s": start, "e": end}
    venue_clause = ""
    if venue_id:
        venue_clause = " AND venue_id = :v"
        params["v"] = uuid.UUID(venue_id)
    rows = await session.execute(
        text(
            "SELECT event_type, date_trunc('day', occurred_at) AS day, count(*) AS n"
            " FROM analytics_events WHERE occurred_at >= :s AND occurred_at < :e"
            f"{venue_clause} GROUP BY event_type, day ORDER BY day, event_type"
        ),
        params,
    )
    by_type: dict[str, int] = {}
    by_day: dict[str, dict[str, int]] = {}
    for event_type, day, n in rows:
        by_type[event_type] = by_type.get(event_type, 0) + n
        by_day.setdefault(day.date().isoformat(), {})[event_type] = n
    return {"total": sum(by_type.values()), "by_type": by_type, "by_day": by_day}


async def generate_report(ctx: JobContext) -> dict[str, Any]:
    payload = read(GenerateReport, ctx.payload)
    report_type = payload.report_type
    start, end = _period(payload.parameters)
    report_id = str(payload.report_id or uuid.uuid4())
    async with ctx.database.transaction() as session:
        # A repeat of the same requester's report runs it again; another requester's report
        # with this id is left alone (no row comes back).
        claimed = await session.execute(
            text(
                "INSERT INTO reports (id, report_type, parameters, status, created_by)"
                " VALUES (:id, :t, CAST(:p AS jsonb), 'running', :by) ON CONFLICT (id) DO UPDATE"
                " SET status = 'running', error = NULL, updated_at = now()"
                " WHERE reports.created_by IS NOT DISTINCT FROM EXCLUDED.created_by"
                " AND reports.report_type = EXCLUDED.report_type RETURNING id"
            ),
            {
                "id": uuid.UUID(report_id),
                "t": report_type,
                "p": json.dumps(payload.parameters.stored()),
                "by": payload.requested_by,
            },
        )
        if claimed.first() is None:
            raise PermanentJobError(f"report {report_id} belongs to another requester")
    async with ctx.database.transaction() as session:
        if report_type == "queue-activity":
            body = await _queue_activity(session, start, end)
        else:
            body = await _analytics_summary(session, start, end, ctx.venue_id)
        body = {"period": {"from": start.isoformat(), "to": end.isoformat()}, **body}
        await session.execute(
            text(
                "UPDATE reports SET status = 'completed', result = CAST(:r AS jsonb),"
                " completed_at = now(), updated_at = now() WHERE id = :id"
            ),
            {"id": uuid.UUID(report_id), "r": json.dumps(body)},
        )
    return {"report_id": report_id, "report_type": report_type}
