"""The cancel route, apart from the others because it depends on the sales half's services."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from tickettoken.events.dependencies import DbSession, KeyValue
from tickettoken.events.events.cancellation import cancel_event
from tickettoken.events.events.schemas import EventCancel, EventCancelled
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
    request: Request,
) -> dict[str, Any]:
    return ok(
        await cancel_event(session, kv, principal, event_id, body, request, datetime.now(UTC))
    )
