"""Request and response shapes of notifications (SPEC 4.1)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from tickettoken.kit.schema_types import Metadata, RequestModel, Timestamp


class NotificationCreate(RequestModel):
    user_id: str = Field(min_length=1, max_length=255)
    type: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9_.-]+$")
    title: str = Field(min_length=1, max_length=255)
    message: str = Field(min_length=1, max_length=5000)
    data: Metadata = Field(default_factory=dict)


NotificationStatus = Literal["unread", "read"]


class NotificationRead(BaseModel):
    id: uuid.UUID
    user_id: str
    type: str
    title: str
    message: str
    data: dict[str, Any]
    status: NotificationStatus
    read_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp


class NotificationList(BaseModel):
    notifications: list[NotificationRead]
    unread_count: int
