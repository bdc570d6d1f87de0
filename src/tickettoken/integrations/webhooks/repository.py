"""``integration_webhooks`` rows: stored once per (provider, provider event id), each new row
with its ``webhook`` job in the same transaction; listing and re-queueing failed rows.

The dedupe key is the table's own unique constraint (integration_type, external_id) from
migration 0001: ``INSERT ... ON CONFLICT DO NOTHING`` makes the database the judge, so 500
concurrent copies of a delivery insert one row and enqueue one job.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, NamedTuple

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
    SELECT
        COALESCE(
            CAST(d.venue AS uuid),
            (SELECT t.venue_id FROM oauth_tokens t
              WHERE t.integration_type = d.provider AND d.account IS NOT NULL
                AND t.provider_data ->> d.extra = d.account
             UNION ALL
             SELECT c.venue_id FROM integration_configs c
              WHERE c.integration_type = d.provider AND d.account IS NOT NULL
                AND c.config -> 'account' ->> 'account_id' = d.account
             LIMIT 1)
        ),
        d.provider, d.event_type, d.external_id, CAST(d.headers AS jsonb),
        CAST(d.payload AS jsonb), d.signature, 'pending', d.external_id
    FROM unnest(
        CAST(:venues AS text[]), CAST(:providers AS text[]), CAST(:extras AS text[]),
        CAST(:accounts AS text[]), CAST(:event_types AS text[]), CAST(:external_ids AS text[]),
        CAST(:headers AS text[]), CAST(:payloads AS text[]), CAST(:signatures AS text[])
    ) AS d(venue, provider, extra, account, event_type, external_id, headers, payload, signature)
    ON CONFLICT (integration_type, external_id) DO NOTHING
    RETURNING id, venue_id, integration_type, external_id
    """
)


class Incoming(NamedTuple):
    """One verified event to store, with what its delivery carried."""

    provider: str
    event: InboundEvent
    headers: dict[str, str]
    signature: str | None
    venue_id: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.provider, self.event.external_id


def _job(provider: str, webhook_id: uuid.UUID, venue_id: uuid.UUID | None, key: str) -> JobSpec:
    venue = str(venue_id) if venue_id else None
    payload = {"provider": provider, "webhook_id": str(webhook_id), "venue_id": venue}
    return JobSpec(JOB_QUEUE, JOB_TYPE, payload, idempotency_key=key, venue_id=venue)


async def store_events(session: AsyncSession, items: list[Incoming]) -> set[tuple[str, str]]:
    """Insert every event whose (provider, key) is not stored yet, in one statement, and
    enqueue one job per new row; returns the keys that were new."""
    unique = list({item.key: item for item in reversed(items)}.values())
    if not unique:
        return set()
    columns: dict[str, list[str | None]] = {
        "venues": [i.venue_id for i in unique],
        "providers": [i.provider for i in unique],
        "extras": [ACCOUNT_EXTRA.get(i.provider, "account_id") for i in unique],
        "accounts": [i.event.account for i in unique],
        "event_types": [i.event.event_type[:100] for i in unique],
        "external_ids": [i.event.external_id for i in unique],
        "headers": [json.dumps(i.headers) for i in unique],
        "payloads": [i.event.payload for i in unique],
        "signatures": [(i.signature or "")[:500] or None for i in unique],
    }
    rows = (await session.execute(_INSERT, columns)).all()
    jobs = [_job(r.integration_type, r.id, r.venue_id, f"webhook:{r.id}") for r in rows]
    if jobs:
        await enqueue_many(session, jobs)
    return {(r.integration_type, r.external_id) for r in rows}


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
