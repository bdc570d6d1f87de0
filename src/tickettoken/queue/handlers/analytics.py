"""``analytics-track``: store one analytics event in ``analytics_events``.

The payload is read through ``kit.jobs.payloads.AnalyticsTrack``, the model that validated it
at enqueue (the original's ``eventType``/``venueId``/``data``/``timestamp`` included).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text

from tickettoken.kit.jobs import JobContext
from tickettoken.kit.jobs.payloads import AnalyticsTrack, read


async def track_event(ctx: JobContext) -> dict[str, Any]:
    payload = read(AnalyticsTrack, ctx.payload)
    venue = payload.venue_id or ctx.venue_id
    async with ctx.database.transaction() as session:
        event_id = (
            await session.execute(
                text(
                    "INSERT INTO analytics_events (event_type, venue_id, user_id, properties,"
                    " occurred_at) VALUES (:t, CAST(:v AS uuid), :u, CAST(:p AS jsonb),"
                    " COALESCE(:o, now())) RETURNING id"
                ),
                {
                    "t": payload.event_type,
                    "v": str(venue) if venue else None,
                    "u": payload.user_id,
                    "p": json.dumps(payload.properties),
                    "o": payload.occurred_at,
                },
            )
        ).scalar_one()
    return {"analytics_event_id": event_id}
