"""Queue metrics: the summary of every queue now, throughput history, recent failures, and the
Prometheus exposition (the queue gauges refreshed first)."""

from __future__ import annotations

from typing import Any

from prometheus_client import generate_latest
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.kit.auth import Principal
from tickettoken.queue.engine import queue_counts
from tickettoken.queue.job_rules import visible
from tickettoken.queue.metrics import repository
from tickettoken.queue.monitoring import gauges
from tickettoken.queue.monitoring.repository import recent_failures, throughput_history


async def summary(session: AsyncSession) -> dict[str, Any]:
    counts = await queue_counts(session)
    gauges.update(counts)
    queues = {
        name: c.to_dict() | {"failure_rate": gauges.failure_rate(c)} for name, c in counts.items()
    }
    return {
        "queues": queues,
        "totals": {
            "waiting": sum(c.waiting for c in counts.values()),
            "active": sum(c.active for c in counts.values()),
            "failed": sum(c.failed + c.dead for c in counts.values()),
            "completed_last_minute": sum(c.completed_last_minute for c in counts.values()),
            "failed_last_minute": sum(c.failed_last_minute for c in counts.values()),
        },
        "dead_letters": await repository.open_dead_letters(session),
        "unacknowledged_alerts": await repository.unacknowledged_alerts(session),
    }


async def throughput(session: AsyncSession, minutes: int, queue: str | None) -> dict[str, Any]:
    counts = await queue_counts(session)
    return {
        "current": {
            name: {"completed_last_minute": c.completed_last_minute}
            for name, c in counts.items()
            if queue is None or name == queue
        },
        "samples": await throughput_history(session, minutes, queue),
    }


async def failures(session: AsyncSession, principal: Principal, hours: int) -> dict[str, Any]:
    groups = await recent_failures(session, hours)
    return {"hours": hours, "by_type": [visible(principal, g) for g in groups]}


async def prometheus_text(session: AsyncSession) -> bytes:
    gauges.update(await queue_counts(session))
    return generate_latest()
