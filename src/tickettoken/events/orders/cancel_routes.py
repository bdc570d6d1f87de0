"""``POST /events/{id}/cancel``: with the orders, because cancelling an event is mostly the sales
side's work (holds released, orders refunded or cancelled, holders notified) and the catalogue
domain must not depend on the sales domains (they depend on it)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from tickettoken.events.dependencies import DbSession, KeyValue
from tickettoken.events.events.schemas import EventCancel, EventCancelled
from tickettoken.events.orders.event_cancellation import cancel_event
from tickettoken.kit.auth import Caller
from tickettoken.kit.contracts import AUTHENTICATED, COMMON_ERRORS, Ok, errors
from tickettoken.kit.pagination import ok

router = APIRouter(
    prefix="/api/v1/events", tags=["events"], responses={**COMMON_ERRORS, **AUTHENTICATED}
)


@router.post(
    "/{event_id}/cancel",
    response_model=Ok[EventCancelled],
    responses=errors(400, 404, 409, 413),
)
async def cancel(
    event_id: uuid.UUID,
    body: EventCancel,
    session: DbSession,
    kv: KeyValue,
    principal: Caller,
) -> dict[str, Any]:
    return ok(await cancel_event(session, kv, principal, event_id, body, datetime.now(UTC)))
