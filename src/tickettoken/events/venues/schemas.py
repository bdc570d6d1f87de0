"""Request and response shapes of venues (SPEC 4.1 field names)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator

from tickettoken.events.vocabulary import EventCategory, EventStatus
from tickettoken.kit.schema_types import (
    Metadata,
    MoneyText,
    RequestModel,
    ResponseModel,
    Timestamp,
    TimeZoneName,
    metadata_field,
    omittable,
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
    name: str | None = omittable(min_length=1, max_length=255)
    address: str | None = Field(default=None, max_length=1000)
    city: str | None = Field(default=None, max_length=100)
    state: str | None = Field(default=None, max_length=100)
    country: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    capacity: int | None = omittable(ge=1, le=MAX_VENUE_CAPACITY)
    timezone: TimeZoneName | None = omittable()
    metadata: Metadata | None = omittable()

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


class Revenue(BaseModel):
    gross: MoneyText
    refunded: MoneyText
    net: MoneyText


class DashboardTotals(BaseModel):
    events: int
    upcoming_events: int
    tickets_total: int
    tickets_sold: int
    tickets_reserved: int
    orders: int


class UpcomingEvent(BaseModel):
    id: uuid.UUID
    name: str
    category: EventCategory
    status: EventStatus
    start_date: Timestamp
    capacity: int
    sold: int


class CategoryCount(BaseModel):
    category: EventCategory
    events: int


class VenueDashboard(BaseModel):
    venue_id: uuid.UUID
    totals: DashboardTotals
    revenue: Revenue
    upcoming_events: list[UpcomingEvent]
    category_distribution: list[CategoryCount]


class CategoryAnalytics(BaseModel):
    category: EventCategory
    events: int
    tickets_sold: int
    average_price: MoneyText
    revenue: MoneyText


class VenueAnalytics(BaseModel):
    venue_id: uuid.UUID
    start_date: date
    end_date: date
    categories: list[CategoryAnalytics]
