"""A customer's consent to marketing mail, withdrawn from outside (the ``marketing-unsubscribe``
job: a Mailchimp audience unsubscribe for one venue, a Mandrill unsubscribe for every venue).

The customers with that email (case-insensitive) whose consent is still given lose it, with
when and from where; one audit row per customer changed. A customer who already withdrew it is
left alone, so a repeated job changes nothing and writes no audit row.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.audit.service import AuditRow, record_audits, system_context

_WITHDRAW = text(
    "UPDATE customers SET marketing_consent = false, marketing_consent_at = :at,"
    " marketing_consent_source = :source"
    " WHERE lower(email) = lower(:email) AND marketing_consent"
    "   AND (CAST(:venue AS uuid) IS NULL OR venue_id = CAST(:venue AS uuid))"
    " RETURNING id, venue_id"
)


async def withdraw_marketing_consent(
    session: AsyncSession,
    *,
    email: str,
    venue_id: uuid.UUID | None,
    source: str,
    at: datetime,
    event_id: str | None = None,
) -> list[uuid.UUID]:
    """Clear the consent of the matching customers; the ids changed."""
    rows = (
        await session.execute(
            _WITHDRAW,
            {"email": email, "venue": venue_id, "source": f"{source}_webhook", "at": at},
        )
    ).all()
    actor = system_context(f"webhook:{source}")
    await record_audits(
        session,
        [
            AuditRow(
                actor,
                "marketing_consent_withdrawn",
                "customer",
                row.id,
                {"marketing_consent": True},
                {"marketing_consent": False, "source": source, "event_id": event_id},
            )
            for row in rows
        ],
    )
    return [row.id for row in rows]
