"""Notification routes (owner-only reads)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query

from tickettoken.events.dependencies import DbSession
from tickettoken.events.notifications import service
from tickettoken.events.notifications.schemas import NotificationCreate, NotificationStatus
from tickettoken.kit.auth import Principal, current_principal
from tickettoken.kit.pagination import ok

router = APIRouter(prefix="/api/v1", tags=["notifications"])


@router.post("/notifications", status_code=201)
async def create_notification(
    body: NotificationCreate,
    session: DbSession,
    principal: Principal = Depends(current_principal),
) -> dict[str, Any]:
    return ok(await service.create_notification(session, principal, body))


@router.get("/users/{user_id}/notifications")
async def list_notifications(
    user_id: str,
    session: DbSession,
    status: NotificationStatus | None = Query(default=None),
    limit: int = Query(default=20, ge=1, le=100),
    principal: Principal = Depends(current_principal),
) -> dict[str, Any]:
    """The user's notifications, newest first, with the number still unread."""
    return ok(await service.notifications_of_user(session, principal, user_id, status, limit))


@router.put("/notifications/{notification_id}/read")
async def mark_read(
    notification_id: uuid.UUID,
    session: DbSession,
    principal: Principal = Depends(current_principal),
) -> dict[str, Any]:
    return ok(await service.mark_notification_read(session, principal, notification_id))
