"""Notification routes (owner-only reads)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from tickettoken.events.dependencies import DbSession
from tickettoken.events.notifications import service
from tickettoken.events.notifications.schemas import (
    NotificationCreate,
    NotificationList,
    NotificationRead,
    NotificationStatus,
)
from tickettoken.kit.auth import Caller
from tickettoken.kit.contracts import AUTHENTICATED, COMMON_ERRORS, Ok, errors
from tickettoken.kit.pagination import ok

router = APIRouter(
    prefix="/api/v1", tags=["notifications"], responses={**COMMON_ERRORS, **AUTHENTICATED}
)


@router.post(
    "/notifications",
    status_code=201,
    response_model=Ok[NotificationRead],
    responses=errors(400, 413),
)
async def create_notification(
    body: NotificationCreate,
    session: DbSession,
    principal: Caller,
) -> dict[str, Any]:
    return ok(await service.create_notification(session, principal, body))


@router.get("/users/{user_id}/notifications", response_model=Ok[NotificationList])
async def list_notifications(
    user_id: Annotated[str, Path(min_length=1, max_length=255, pattern=r"^[^\x00]+$")],
    session: DbSession,
    principal: Caller,
    status: NotificationStatus | None = Query(default=None),
    limit: int = Query(default=20, ge=1, le=100),
) -> dict[str, Any]:
    """The user's notifications, newest first, with the number still unread."""
    return ok(await service.notifications_of_user(session, principal, user_id, status, limit))


@router.put(
    "/notifications/{notification_id}/read",
    response_model=Ok[NotificationRead],
    responses=errors(404),
)
async def mark_read(
    notification_id: uuid.UUID,
    session: DbSession,
    principal: Caller,
) -> dict[str, Any]:
    return ok(await service.mark_notification_read(session, principal, notification_id))
