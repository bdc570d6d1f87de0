"""``analytics-track``: store one analytics event in ``analytics_events``."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text

from tickettoken.kit.jobs import JobContext, PermanentJobError
from tickettoken.queue.handlers.provider_calls import require


def _occurred_at(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise PermanentJobError("occurred_at must be an ISO 8601 time") from None


def _venue(value: Any) -> uuid.UUID | None:
    if value in (None, ""):
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise PermanentJobError("venue_id must be a UUID") from None


async def track_event(ctx: JobContext) -> dict[str, Any]:
    (event_type,) = require(ctx.payload, "event_type")
    properties = ctx.payload.get("properties", {})
    if not isinstance(properties, dict):
        raise PermanentJobError("properties must be an object")
    async with ctx.database.transaction() as session:
        event_id = (
            await session.execute(
                text(
                    "INSERT INTO analytics_events (event_type, venue_id, user_id, properties,"
                    " occurred_at) VALUES (:t, :v, :u, CAST(:p AS jsonb), COALESCE(:o, now()))"
                    " RETURNING id"
                ),
                {
                    "t": str(event_type)[:200],
                    "v": _venue(ctx.payload.get("venue_id") or ctx.venue_id),
                    "u": str(ctx.payload["user_id"]) if ctx.payload.get("user_id") else None,
                    "p": json.dumps(properties),
                    "o": _occurred_at(ctx.payload.get("occurred_at")),
                },
            )
        ).scalar_one()
    return {"analytics_event_id": event_id}
