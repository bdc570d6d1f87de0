"""Queues: counts with failure rates, one queue's status, its jobs as the caller may see them,
pause, resume and clear.

``clear`` acts on one named queue and only on its jobs that have not started (waiting and
delayed), which it cancels rather than deletes (``repository.cancel_waiting``); the money queue
is never cleared (``job_rules``). Monitoring sees job summaries, not payloads. Nothing here
flushes Redis or wipes shared state wholesale (AUDIT: unauthenticated cache flush).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.kit.auth import Principal, Role
from tickettoken.kit.errors import Conflict
from tickettoken.kit.jobs import QueueCounts
from tickettoken.kit.pagination import PageParams
from tickettoken.queue.engine import list_jobs, pause_queue, queue_counts, resume_queue
from tickettoken.queue.job_rules import visible
from tickettoken.queue.monitoring import gauges
from tickettoken.queue.queues.repository import cancel_waiting


def counts_view(counts: QueueCounts) -> dict[str, Any]:
    return counts.to_dict() | {"failure_rate": gauges.failure_rate(counts)}


async def all_queues(session: AsyncSession) -> list[dict[str, Any]]:
    counts = await queue_counts(session)
    gauges.update(counts)
    return [counts_view(c) for c in counts.values()]


async def status(session: AsyncSession, name: str) -> dict[str, Any]:
    return counts_view((await queue_counts(session))[name])


async def jobs_of(
    session: AsyncSession, principal: Principal, name: str, status: str | None, page: PageParams
) -> tuple[list[dict[str, Any]], int]:
    venues = sorted(principal.venue_ids) if principal.role is Role.VENUE_ADMIN else None
    jobs, total = await list_jobs(
        session, name, status, page=page.page, limit=page.limit, venue_ids=venues
    )
    return [visible(principal, j.to_dict()) for j in jobs], total


async def pause(session: AsyncSession, name: str, by: str) -> dict[str, Any]:
    await pause_queue(session, name, by=by)
    return await status(session, name)


async def resume(session: AsyncSession, name: str) -> dict[str, Any]:
    await resume_queue(session, name)
    return await status(session, name)


async def clear(session: AsyncSession, name: str) -> dict[str, Any]:
    if name == "money":  # job_rules.check_may_cancel: a money job's outcome is the provider's
        raise Conflict("The money queue cannot be cleared; pause it instead")
    return {"queue": name, "cancelled": await cancel_waiting(session, name)}
