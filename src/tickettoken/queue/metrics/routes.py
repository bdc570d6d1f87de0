"""Metrics: current summary, throughput history, recent failures, Prometheus text; thin over
``metrics.service``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from tickettoken.kit.auth import Principal
from tickettoken.kit.contracts import AUTHENTICATED, COMMON_ERRORS, Ok
from tickettoken.kit.db import DbSession
from tickettoken.kit.pagination import ok
from tickettoken.queue.access import OBSERVERS
from tickettoken.queue.metrics import service
from tickettoken.queue.metrics.schemas import Failures, MetricsSummary, Throughput
from tickettoken.queue.queues.schemas import QueueName

router = APIRouter(
    prefix="/api/v1/queue/metrics", tags=["metrics"], responses={**COMMON_ERRORS, **AUTHENTICATED}
)


@router.get(
    "/summary", summary="Totals and per-queue counts now", response_model=Ok[MetricsSummary]
)
async def summary(
    _: Principal = Depends(OBSERVERS),
    *,
    session: DbSession,
) -> dict[str, Any]:
    return ok(await service.summary(session))


@router.get(
    "/throughput",
    summary="Sampled jobs per minute and failure rate over time",
    response_model=Ok[Throughput],
)
async def throughput(
    minutes: int = Query(60, ge=1, le=7 * 24 * 60),
    queue: QueueName | None = Query(None),
    _: Principal = Depends(OBSERVERS),
    *,
    session: DbSession,
) -> dict[str, Any]:
    return ok(await service.throughput(session, minutes, queue))


@router.get(
    "/failures",
    summary="Failed and dead jobs of the last hours by queue and type",
    response_model=Ok[Failures],
)
async def failures(
    hours: int = Query(24, ge=1, le=24 * 90),
    principal: Principal = Depends(OBSERVERS),
    *,
    session: DbSession,
) -> dict[str, Any]:
    return ok(await service.failures(session, principal, hours))


@router.get(
    "/prometheus",
    summary="Prometheus text format (queue gauges and service metrics)",
    response_class=PlainTextResponse,
)
async def prometheus(
    _: Principal = Depends(OBSERVERS),
    *,
    session: DbSession,
) -> Response:
    return Response(await service.prometheus_text(session), media_type=CONTENT_TYPE_LATEST)
