"""``integration_webhooks`` rows: stored once per (provider, provider event id), each new row
with its ``webhook`` job in the same transaction; listing and re-queueing failed rows.

The dedupe key is the table's own unique constraint (integration_type, external_id) from
migration 0001: ``INSERT ... ON CONFLICT DO NOTHING`` makes the database the judge, so 500
concurrent copies of a delivery insert one row and enqueue one job.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.integrations.webhooks.parsing import InboundEvent
from tickettoken.kit.jobs import JobSpec, enqueue_many

JOB_QUEUE = "communication"
JOB_TYPE = "webhook"

# The provider extra (oauth_tokens.provider_data) that holds the account a delivery names.
ACCOUNT_EXTRA = {"stripe": "stripe_user_id", "square": "merchant_id", "quickbooks": "realm_id"}

_INSERT = text(
    """
    INSERT INTO integration_webhooks
        (venue_id, integration_type, event_type, event_id, headers, payload, signature,
         status, external_id)
    VALUES (
        COALESCE(
            CAST(:venue_id AS uuid),
            (SELECT t.venue_id FROM oauth_tokens t
              WHERE t.integration_type = :provider AND CAST(:account AS text) IS NOT NULL
                AND t.provider_data ->> CAST(:extra AS text) = CAST(:account AS text)
             UNION ALL
             SELECT c.venue_id FROM integration_configs c
              WHERE c.integration_type = :provider AND CAST(:account AS text) IS NOT NULL
                AND c.config -> 'account' ->> 'account_id' = CAST(:account AS text)
             LIMIT 1)
        ),
        :provider, :event_type, :external_id, CAST(:headers AS jsonb), CAST(:payload AS jsonb),
        :signature, 'pending', :external_id)
    ON CONFLICT (integration_type, external_id) DO NOTHING
    RETURNING id, venue_id
    """
)


@dataclass(frozen=True)
class Stored:
    created: int
    duplicates: int


def _job(provider: str, webhook_id: uuid.UUID, venue_id: uuid.UUID | None, key: str) -> JobSpec:
    venue = str(venue_id) if venue_id else None
    payload = {"provider": provider, "webhook_id": str(webhook_id), "venue_id": venue}
    return JobSpec(JOB_QUEUE, JOB_TYPE, payload, idempotency_key=key, venue_id=venue)


async def store_events(
    session: AsyncSession,
    provider: str,
    events: list[InboundEvent],
    *,
    headers: dict[str, str],
    signature: str | None,
    venue_id: str | None = None,
) -> Stored:
    """Insert each event unless its key is known; enqueue a job for each new row."""
    jobs: list[JobSpec] = []
    for event in events:
        row = (
            await session.execute(
                _INSERT,
                {
                    "venue_id": venue_id,
                    "provider": provider,
                    "account": event.account,
                    "extra": ACCOUNT_EXTRA.get(provider, "account_id"),
                    "event_type": event.event_type[:100],
                    "external_id": event.external_id,
                    "headers": json.dumps(headers),
                    "payload": json.dumps(event.payload),
                    "signature": (signature or "")[:500] or None,
                },
            )
        ).first()
        if row is not None:
            jobs.append(_job(provider, row.id, row.venue_id, f"webhook:{row.id}"))
    if jobs:
        await enqueue_many(session, jobs)
    return Stored(created=len(jobs), duplicates=len(events) - len(jobs))


async def list_events(
    session: AsyncSession,
    provider: str,
    venue_id: uuid.UUID,
    status: str | None,
    offset: int,
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    where = "integration_type = :provider AND venue_id = :venue"
    params: dict[str, Any] = {"provider": provider, "venue": venue_id}
    if status:
        where += " AND status = :status"
        params["status"] = status
    total = (
        await session.execute(
            text(f"SELECT count(*) FROM integration_webhooks WHERE {where}"), params
        )
    ).scalar_one()
    rows = await session.execute(
        text(
            "SELECT id, venue_id, integration_type, event_type, external_id, status, error,"
            " retry_count, received_at, processed_at FROM integration_webhooks"
            f" WHERE {where} ORDER BY received_at DESC, id LIMIT :limit OFFSET :offset"
        ),
        {**params, "limit": limit, "offset": offset},
    )
    return [dict(row._mapping) for row in rows], int(total)


async def requeue_failed(
    session: AsyncSession, venue_id: uuid.UUID, provider: str | None, limit: int
) -> list[uuid.UUID]:
    """Failed rows of the venue back to ``pending``, each with a new job."""
    rows = (
        await session.execute(
            text(
                """
                UPDATE integration_webhooks SET status = 'pending', error = NULL,
                       retry_count = COALESCE(retry_count, 0) + 1
                 WHERE id IN (
                    SELECT id FROM integration_webhooks
                     WHERE venue_id = :venue AND status = 'failed'
                       AND (CAST(:provider AS text) IS NULL OR integration_type = :provider)
                     ORDER BY received_at LIMIT :limit FOR UPDATE SKIP LOCKED)
                RETURNING id, venue_id, integration_type, retry_count
                """
            ),
            {"venue": venue_id, "provider": provider, "limit": limit},
        )
    ).all()
    jobs = [
        _job(r.integration_type, r.id, r.venue_id, f"webhook:{r.id}:retry:{r.retry_count}")
        for r in rows
    ]
    if jobs:
        await enqueue_many(session, jobs)
    return [r.id for r in rows]
