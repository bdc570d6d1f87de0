"""Result callbacks of the money jobs, declared in the event service's entry of the service
table (``tickettoken.services``), so every ``tickettoken worker`` runs them.

They run in the transaction that finishes each ``payment-process`` job (and each failed
``refund-process``), so "order paid" and "job completed" commit together.
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
)
from tickettoken.kit.jobs import JobRecord

log = structlog.get_logger(__name__)


def _order_id(job: JobRecord, result: dict[str, Any] | None = None) -> uuid.UUID | None:
    raw = (result or {}).get("order_id") or job.payload.get("order_id")
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        return None


async def on_payment_completed(
    session: AsyncSession, job: JobRecord, result: dict[str, Any]
) -> None:
    order_id = _order_id(job, result)
    if order_id is None:
        log.error("payment_result_without_order", job_id=job.job_id)
        return
    outcome = await apply_payment_succeeded(session, order_id, result)
    log.info("payment_applied", order_id=str(order_id), outcome=outcome)


async def on_payment_failed(session: AsyncSession, job: JobRecord, error: str) -> None:
    order_id = _order_id(job)
    if order_id is None:
        return
    outcome = await apply_payment_failed(session, order_id, error)
    log.info("payment_failure_applied", order_id=str(order_id), outcome=outcome)


async def on_refund_failed(session: AsyncSession, job: JobRecord, error: str) -> None:
    order_id = _order_id(job)
    amount = job.payload.get("amount_cents")
    if order_id is None or not isinstance(amount, int):
        log.error("refund_failure_without_order", job_id=job.job_id)
        return
    outcome = await apply_refund_failed(session, order_id, amount, error)
    log.info("refund_failure_applied", order_id=str(order_id), outcome=outcome)
