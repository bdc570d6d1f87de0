"""The ``marketing-unsubscribe`` job (declared in the service table's event entry): the
integration service's webhook job enqueues it for a Mailchimp or Mandrill unsubscribe; this
clears the consent through the customers module."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog

from tickettoken.events.customers.consent import withdraw_marketing_consent
from tickettoken.kit.jobs import JobContext
from tickettoken.kit.jobs.payloads import MarketingUnsubscribe, read

log = structlog.get_logger(__name__)


async def process_marketing_unsubscribe(ctx: JobContext) -> dict[str, Any]:
    claim = read(MarketingUnsubscribe, ctx.payload)
    async with ctx.database.transaction() as session:
        changed = await withdraw_marketing_consent(
            session,
            email=claim.email,
            venue_id=claim.venue_id,
            source=claim.source,
            at=claim.unsubscribed_at or datetime.now(UTC),
            event_id=claim.event_id,
        )
    log.info(
        "marketing_consent_withdrawn",
        source=claim.source,
        venue_id=str(claim.venue_id) if claim.venue_id else None,
        customers=len(changed),
        job_id=ctx.job_id,
    )
    return {"customers": [str(c) for c in changed]}
