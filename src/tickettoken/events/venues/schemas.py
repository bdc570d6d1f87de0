"""Request and response shapes of venues (SPEC 4.1 field names)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field, model_validator

from tickettoken.kit.schema_types import (
    Metadata,
    RequestModel,
    ResponseModel,
    TimeZoneName,
    metadata_field,
)

MAX_VENUE_CAPACITY = 1_000_000


class VenueCreate(RequestModel):
    name: str = Field(min_length=1, max_length=255)
    address: str | None = Field(default=None, max_length=1000)
    city: str | None = Field(default=None, max_length=100)
    state: str | None = Field(default=None, max_length=100)
    country: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    capacity: int = Field(ge=1, le=MAX_VENUE_CAPACITY)
    timezone: TimeZoneName = "UTC"
    metadata: Metadata = Field(default_factory=dict)


class VenueUpdate(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    address: str | None = Field(default=None, max_length=1000)
    city: str | None = Field(default=None, max_length=100)
    state: str | None = Field(default=None, max_length=100)
    country: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    capacity: int | None = Field(default=None, ge=1, le=MAX_VENUE_CAPACITY)
    timezone: TimeZoneName | None = None
    metadata: Metadata | None = None

    @model_validator(mode="after")
    def _required_stay_set(self) -> VenueUpdate:
        for name in ("name", "capacity", "timezone", "metadata"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class VenueRead(ResponseModel):
    id: uuid.UUID
    name: str
    address: str | None
    city: str | None
    state: str | None
    country: str | None
    postal_code: str | None
    capacity: int
    timezone: str
    metadata: dict[str, Any] = metadata_field()
    created_at: datetime
    updated_at: datetime
