"""Notifications: in-app messages owned by one user id; only the owner reads or marks them
(404 for anyone else, so existence never leaks). Admins and services may notify anyone; venue
administrators only people who are customers of their venues."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.audit.service import record_audit
from tickettoken.events.notifications import repository
from tickettoken.events.notifications.models import Notification
from tickettoken.events.notifications.schemas import NotificationCreate
from tickettoken.kit.auth import Principal, Role
from tickettoken.kit.errors import Forbidden, NotFound, ValidationFailed
from tickettoken.kit.schema_types import contains_unstorable_text


def notification_view(notification: Notification) -> dict[str, Any]:
    return {
        "id": str(notification.id),
        "user_id": notification.user_id,
        "type": notification.type,
        "title": notification.title,
        "message": notification.message,
        "data": notification.data,
        "status": notification.status,
        "read_at": notification.read_at.isoformat() if notification.read_at else None,
        "created_at": notification.created_at.isoformat(),
        "updated_at": notification.updated_at.isoformat(),
    }


async def notify_user(
    session: AsyncSession,
    user_id: str,
    type_: str,
    title: str,
    message: str,
    data: dict[str, Any] | None = None,
) -> Notification:
    """For other domains (e.g. an event cancellation): add one notification, flushed."""
    return await repository.add(session, user_id, type_, title, message, data or {})


async def create_notification(
    session: AsyncSession,
    principal: Principal,
    data: NotificationCreate,
) -> dict[str, Any]:
    if principal.role in (Role.ADMIN, Role.SERVICE):
        pass
    elif principal.role is Role.VENUE_ADMIN:
        venues = [uuid.UUID(v) for v in principal.venue_ids]
        if not await repository.user_is_customer_of_venues(session, data.user_id, venues):
            raise NotFound("User not found")
    else:
        raise Forbidden("Your role may not send notifications")
    created = await repository.add(
        session, data.user_id, data.type, data.title, data.message, data.data
    )
    view = notification_view(created)
    await record_audit(session, principal, "create", "notification", created.id, None, view)
    return view


def _ensure_owner(principal: Principal, user_id: str) -> None:
    if contains_unstorable_text(user_id):
        raise ValidationFailed(
            "user_id must not contain NUL characters or lone surrogates",
            details=[{"field": "path.user_id", "message": "invalid text"}],
        )
    if principal.sub != user_id and principal.role not in (Role.ADMIN, Role.SERVICE):
        raise NotFound("User not found")


async def notifications_of_user(
    session: AsyncSession, principal: Principal, user_id: str, status: str | None, limit: int
) -> dict[str, Any]:
    _ensure_owner(principal, user_id)
    items = await repository.list_for_user(session, user_id, status, limit)
    return {
        "notifications": [notification_view(n) for n in items],
        "unread_count": await repository.unread_count(session, user_id),
    }


async def mark_notification_read(
    session: AsyncSession,
    principal: Principal,
    notification_id: uuid.UUID,
) -> dict[str, Any]:
    found = await repository.mark_read(session, notification_id, principal.sub)
    if found is None:
        raise NotFound("Notification not found")
    notification, changed = found
    view = notification_view(notification)
    if changed:
        before = {**view, "status": "unread", "read_at": None}
        await record_audit(
            session, principal, "read", "notification", notification.id, before, view
        )
    return view
