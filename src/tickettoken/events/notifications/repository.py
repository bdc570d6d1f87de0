"""Every query of notifications."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.notifications.models import Notification


async def add(
    session: AsyncSession, user_id: str, type_: str, title: str, message: str, data: dict[str, Any]
) -> Notification:
    notification = Notification(
        user_id=user_id, type=type_, title=title, message=message, data=data
    )
    session.add(notification)
    await session.flush()
    return notification


async def list_for_user(
    session: AsyncSession, user_id: str, status: str | None, limit: int
) -> list[Notification]:
    query = select(Notification).where(Notification.user_id == user_id)
    if status is not None:
        query = query.where(Notification.status == status)
    rows = await session.execute(
        query.order_by(Notification.created_at.desc(), Notification.id).limit(limit)
    )
    return list(rows.scalars())


async def unread_count(session: AsyncSession, user_id: str) -> int:
    count = await session.execute(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.status == "unread")
    )
    return int(count.scalar_one())


async def mark_read(
    session: AsyncSession, notification_id: uuid.UUID, user_id: str
) -> tuple[Notification, bool] | None:
    """Mark the user's notification read (once): the notification and whether this call changed
    it; None when it is not theirs or does not exist."""
    notification = (
        await session.execute(
            select(Notification)
            .where(Notification.id == notification_id, Notification.user_id == user_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if notification is None:
        return None
    if notification.status == "read":
        return notification, False
    notification.status = "read"
    notification.read_at = func.now()
    await session.flush()
    await session.refresh(notification)
    return notification, True


async def user_is_customer_of_venues(
    session: AsyncSession, user_id: str, venue_ids: list[uuid.UUID]
) -> bool:
    found = await session.execute(
        text(
            "SELECT 1 FROM customers WHERE user_id = :user_id AND venue_id = ANY(:venues) LIMIT 1"
        ),
        {"user_id": user_id, "venues": venue_ids},
    )
    return found.first() is not None
