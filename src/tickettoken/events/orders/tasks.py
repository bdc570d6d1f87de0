"""Result callbacks of the money jobs, declared in the event service's entry of the service
table (``tickettoken.services``), so every ``tickettoken worker`` runs them. They run in the
transaction that finishes each ``payment-process``, ``refund-process`` and ``payout-process`` job,
so "order paid" and "job completed" commit together. Each callback applies a result only to the
record the job was created for (``payment_results``, ``payouts.service``).
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events import models  # noqa: F401  (every table registered before a flush)
from tickettoken.events.orders.payment_results import (
    apply_payment_failed,
    apply_payment_succeeded,
    apply_refund_failed,
    apply_refund_succeeded,
)
from tickettoken.events.orders.provider_refunds import record_provider_refund
from tickettoken.events.payouts.service import apply_payout_failed, apply_payout_paid
from tickettoken.kit.jobs import JobContext, JobRecord
from tickettoken.kit.jobs.payloads import ProviderRefund, read

log = structlog.get_logger(__name__)


def _order_id(job: JobRecord) -> uuid.UUID | None:
    """The order a job was created for (its payload; never what a provider answered)."""
    try:
        return uuid.UUID(str(job.payload.get("order_id")))
    except ValueError:
        return None


async def on_payment_completed(
    session: AsyncSession, job: JobRecord, result: dict[str, Any]
) -> None:
    order_id = _order_id(job)
    if order_id is None:
        log.error("money_result_anomaly", job_id=job.job_id, problem="payment without order")
        return
    outcome = await apply_payment_succeeded(session, order_id, job, result)
    log.info("payment_applied", order_id=str(order_id), outcome=outcome)


async def on_payment_failed(session: AsyncSession, job: JobRecord, error: str) -> None:
    order_id = _order_id(job)
    if order_id is None:
        return
    outcome = await apply_payment_failed(session, order_id, job, error)
    log.info("payment_failure_applied", order_id=str(order_id), outcome=outcome)


async def on_refund_completed(
    session: AsyncSession, job: JobRecord, result: dict[str, Any]
) -> None:
    outcome = await apply_refund_succeeded(session, job, result)
    log.info("refund_applied", job_id=job.job_id, outcome=outcome)


async def on_refund_failed(session: AsyncSession, job: JobRecord, error: str) -> None:
    outcome = await apply_refund_failed(session, job, error)
    log.info("refund_failure_applied", job_id=job.job_id, outcome=outcome)


async def on_payout_completed(
    session: AsyncSession, job: JobRecord, result: dict[str, Any]
) -> None:
    outcome = await apply_payout_paid(session, job, result)
    log.info("payout_applied", job_id=job.job_id, outcome=outcome)


async def on_payout_failed(session: AsyncSession, job: JobRecord, error: str) -> None:
    outcome = await apply_payout_failed(session, job, error)
    log.info("payout_failure_applied", job_id=job.job_id, outcome=outcome)


async def process_provider_refund(ctx: JobContext) -> dict[str, Any]:
    """The ``provider-refund`` job: a refund the provider reports, counted on its order once
    (``provider_refunds``); enqueued by the integration service's webhook job."""
    claim = read(ProviderRefund, ctx.payload)
    async with ctx.database.transaction() as session:
        outcome = await record_provider_refund(session, claim)
    log.info(
        "provider_refund",
        outcome=outcome,
        provider=claim.provider,
        provider_refund_id=claim.provider_refund_id,
        job_id=ctx.job_id,
    )
    return {"outcome": outcome, "provider_refund_id": claim.provider_refund_id}
