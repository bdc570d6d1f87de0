"""Metrics: current summary, throughput history, recent failures, Prometheus text."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from tickettoken.kit.auth import Principal
from tickettoken.kit.db import DbSession
from tickettoken.kit.pagination import ok
from tickettoken.queue.access import OBSERVERS
from tickettoken.queue.engine import queue_counts
from tickettoken.queue.job_rules import visible
from tickettoken.queue.monitoring import gauges
from tickettoken.queue.monitoring.repository import recent_failures, throughput_history
from tickettoken.queue.schemas import QueueName

router = APIRouter(prefix="/api/v1/queue/metrics", tags=["metrics"])


@router.get("/summary", summary="Totals and per-queue counts now")
async def summary(
    _: Principal = Depends(OBSERVERS),
    *,
    session: DbSession,
) -> dict[str, Any]:
    counts = await queue_counts(session)
    gauges.update(counts)
    dead_letters = (
        await session.execute(
            text("SELECT count(*) FROM dead_letter_jobs WHERE requeued_at IS NULL")
        )
    ).scalar_one()
    open_alerts = (
        await session.execute(text("SELECT count(*) FROM alert_history WHERE NOT acknowledged"))
    ).scalar_one()
    queues = {
        name: c.to_dict() | {"failure_rate": gauges.failure_rate(c)} for name, c in counts.items()
    }
    return ok(
        {
            "queues": queues,
            "totals": {
                "waiting": sum(c.waiting for c in counts.values()),
                "active": sum(c.active for c in counts.values()),
                "failed": sum(c.failed + c.dead for c in counts.values()),
                "completed_last_minute": sum(c.completed_last_minute for c in counts.values()),
                "failed_last_minute": sum(c.failed_last_minute for c in counts.values()),
            },
            "dead_letters": int(dead_letters),
            "unacknowledged_alerts": int(open_alerts),
        }
    )


@router.get("/throughput", summary="Sampled jobs per minute and failure rate over time")
async def throughput(
    minutes: int = Query(60, ge=1, le=7 * 24 * 60),
    queue: QueueName | None = Query(None),
    _: Principal = Depends(OBSERVERS),
    *,
    session: DbSession,
) -> dict[str, Any]:
    counts = await queue_counts(session)
    return ok(
        {
            "current": {
                name: {"completed_last_minute": c.completed_last_minute}
                for name, c in counts.items()
                if queue is None or name == queue
            },
            "samples": await throughput_history(session, minutes, queue),
        }
    )


@router.get("/failures", summary="Failed and dead jobs of the last hours by queue and type")
async def failures(
    hours: int = Query(24, ge=1, le=24 * 90),
    principal: Principal = Depends(OBSERVERS),
    *,
    session: DbSession,
) -> dict[str, Any]:
    groups = await recent_failures(session, hours)
    return ok({"hours": hours, "by_type": [visible(principal, g) for g in groups]})


@router.get("/prometheus", summary="Prometheus text format (queue gauges and service metrics)")
async def prometheus(
    _: Principal = Depends(OBSERVERS),
    *,
    session: DbSession,
) -> Response:
    gauges.update(await queue_counts(session))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
