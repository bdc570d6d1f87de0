"""The demo season's payment provider: settles the money jobs the seed's sales queued, the way a
queue worker does with the provider's answer (the job finished with the provider's result, then
the event service's result callbacks in the same transaction), without calling a provider.

Why: ``seed --demo`` runs without the queue workers or the payments sandbox, and a season whose
payments were left queued would charge the sandbox for every past order when ``up --demo``
starts its workers. The orders move only through the platform's own result callbacks
(``orders.tasks``), so a paid order is exactly what a real payment makes of it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.kit.jobs.catalog import tier_for
from tickettoken.queue.engine import JobRegistry, get_job, store

WORKER = "demo-season-provider"


def callbacks() -> JobRegistry:
    """The result callbacks every worker runs for the event service (the service table)."""
    from tickettoken.services import SERVICES, job_registry

    return job_registry([SERVICES["event"]])


async def _take(session: AsyncSession, job_id: str) -> tuple[Any, int]:
    record = await get_job(session, job_id)
    if record is None or record.status != "queued":
        raise RuntimeError(f"demo job {job_id} is not waiting")
    tier = tier_for(record.queue)
    row_id = await session.scalar(
        text(
            f"UPDATE {tier.table} SET status = 'active', attempts = attempts + 1,"
            " locked_by = :worker, locked_until = now() + interval '1 minute',"
            " started_at = now(), updated_at = now() WHERE job_uuid = :id RETURNING id"
        ),
        {"worker": WORKER, "id": uuid.UUID(job_id)},
    )
    return record, int(row_id)


async def settle_payment(
    session: AsyncSession, registry: JobRegistry, job_id: str, *, approved: bool
) -> None:
    """The provider approves (a succeeded payment intent) or declines the payment job."""
    record, row_id = await _take(session, job_id)
    tier = tier_for(record.queue)
    if approved:
        result = {
            "payment_intent_id": f"pi_demo_{uuid.uuid5(uuid.UUID(job_id), 'intent').hex[:24]}",
            "status": "succeeded",
            "amount_cents": record.payload["amount_cents"],
            "currency": record.payload["currency"],
            "order_id": record.payload["order_id"],
        }
        await store.complete(session, tier, WORKER, {row_id: result})
        for completed in registry.completed_callbacks.get(record.type, []):
            await completed(session, record, result)
        return
    error = "card_declined: Your card was declined."
    await store.fail(session, tier, WORKER, [(row_id, error)], dead=False)
    for failed in registry.failed_callbacks.get(record.type, []):
        await failed(session, record, error)


async def settle_refunds(session: AsyncSession, registry: JobRegistry, order_ids: list[str]) -> int:
    """The provider pays out every queued refund of these orders; the number settled."""
    rows = await session.execute(
        text(
            "SELECT job_uuid FROM jobs_money WHERE type = 'refund-process' AND status = 'queued'"
            " AND payload->>'order_id' = ANY(:orders) ORDER BY id"
        ),
        {"orders": order_ids},
    )
    settled = 0
    for job_uuid in rows.scalars().all():
        record, row_id = await _take(session, str(job_uuid))
        result = {
            "refund_id": record.payload["refund_id"],
            "provider_refund_id": f"re_demo_{uuid.UUID(str(job_uuid)).hex[:24]}",
            "status": "succeeded",
            "amount_cents": record.payload["amount_cents"],
            "payment_intent_id": record.payload.get("payment_intent_id"),
        }
        await store.complete(session, tier_for(record.queue), WORKER, {row_id: result})
        for completed in registry.completed_callbacks.get(record.type, []):
            await completed(session, record, result)
        settled += 1
    return settled
