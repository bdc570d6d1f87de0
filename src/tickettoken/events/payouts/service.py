"""Creating a venue payout and applying its outcome.

``create_payout`` writes the payout row and enqueues its ``payout-process`` job in the caller's
transaction; the job's id is stored on the row, and the payout handler pays only a pending row
whose own job it is, with the row's amount, currency and destination (never a payload's). The
result callbacks (``events.orders.tasks``) mark the row paid or failed, again only for the row's
own job; anything else is logged as an anomaly and changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.payouts.models import Payout, PayoutStatus
from tickettoken.kit.errors import BadRequest
from tickettoken.kit.jobs import JobRecord, enqueue
from tickettoken.kit.money import to_cents

log = structlog.get_logger(__name__)


async def create_payout(
    session: AsyncSession,
    *,
    venue_id: uuid.UUID,
    amount: Decimal,
    currency: str,
    destination: str,
) -> Payout:
    """Record a payout to a venue's destination and queue the job that pays exactly it."""
    if amount <= 0:
        raise BadRequest("A payout amount must be positive")
    if not destination:
        raise BadRequest("A payout needs a destination")
    payout = Payout(
        venue_id=venue_id,
        amount=amount,
        currency=currency.upper(),
        destination=destination,
        status=PayoutStatus.PENDING.value,
    )
    session.add(payout)
    await session.flush()
    job = await enqueue(
        session,
        queue="money",
        type="payout-process",
        payload={
            "payout_id": str(payout.id),
            "venue_id": str(venue_id),
            "amount_cents": to_cents(amount),
            "currency": payout.currency.lower(),
        },
        venue_id=str(venue_id),
    )
    payout.job_id = uuid.UUID(job.job_id)
    await session.flush()
    return payout


async def _own_payout(session: AsyncSession, job: JobRecord) -> Payout | None:
    """The payout this job was created for, locked; None (logged) for any other job."""
    raw = job.payload.get("payout_id")
    try:
        payout_id = uuid.UUID(str(raw))
    except ValueError:
        log.warning("payout_anomaly", job_id=job.job_id, problem="payout_id is not a uuid")
        return None
    payout = await session.get(Payout, payout_id, with_for_update=True)
    if payout is None or payout.job_id is None or str(payout.job_id) != job.job_id:
        log.warning(
            "payout_anomaly",
            job_id=job.job_id,
            payout_id=str(payout_id),
            problem="not the payout's own job",
        )
        return None
    if payout.status not in (PayoutStatus.PENDING, PayoutStatus.FAILED):  # failed: requeued
        log.warning(
            "payout_anomaly",
            job_id=job.job_id,
            payout_id=str(payout_id),
            problem=f"payout is {payout.status}",
        )
        return None
    return payout


async def apply_payout_paid(session: AsyncSession, job: JobRecord, result: dict[str, Any]) -> str:
    payout = await _own_payout(session, job)
    if payout is None:
        return "anomaly"
    if (
        result.get("amount_cents") != to_cents(payout.amount)
        or str(result.get("currency", "")).lower() != payout.currency.lower()
    ):
        log.error(
            "payout_anomaly",
            job_id=job.job_id,
            payout_id=str(payout.id),
            problem="provider amount or currency differs from the payout",
        )
        return "anomaly"
    payout.status = PayoutStatus.PAID.value
    payout.provider_payout_id = str(result.get("provider_payout_id") or "") or None
    payout.paid_at = datetime.now(UTC)
    await session.flush()
    return "paid"


async def apply_payout_failed(session: AsyncSession, job: JobRecord, error: str) -> str:
    payout = await _own_payout(session, job)
    if payout is None:
        return "anomaly"
    payout.status = PayoutStatus.FAILED.value
    payout.error = error[:2000]
    payout.failed_at = datetime.now(UTC)
    await session.flush()
    log.error("payout_failed", payout_id=str(payout.id), error=error[:200])
    return "failed"
