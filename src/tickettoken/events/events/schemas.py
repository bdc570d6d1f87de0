"""Request and response shapes of events (SPEC 4.1 field names)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tickettoken.events.events.models import EventCategory, EventStatus
from tickettoken.kit.schema_types import (
    DecimalText,
    IsoDatetime,
    Metadata,
    MoneyText,
    RequestModel,
    ResponseModel,
    decimal_text,
    metadata_field,
    omittable,
)

Name = Annotated[str, Field(min_length=1, max_length=255)]
# No white space (nor NUL) in the address; the class spells it out (Unicode White_Space), so the
# Rust regex of validation and the schema's readers agree on characters such as U+0085.
_NOT_SPACE = r"[^\x00\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
Url = Annotated[str, Field(min_length=1, max_length=2000, pattern=rf"^https?://{_NOT_SPACE}+$")]
MAX_EVENT_CAPACITY = 1_000_000


class EventCreate(RequestModel):
    venue_id: uuid.UUID
    name: Name
    description: str | None = Field(default=None, max_length=10_000)
    category: EventCategory = EventCategory.OTHER
    start_date: IsoDatetime
    end_date: IsoDatetime
    doors_open: IsoDatetime | None = None
    capacity: int = Field(ge=1, le=MAX_EVENT_CAPACITY)
    image_url: Url | None = None
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="after")
    def _dates_in_order(self) -> EventCreate:
        check_dates(self.start_date, self.end_date, self.doors_open)
        return self


def check_dates(start: datetime, end: datetime, doors_open: datetime | None) -> None:
    if end <= start:
        raise ValueError("end_date must be after start_date")
    if doors_open is not None and doors_open > start:
        raise ValueError("doors_open must not be after start_date")


class EventUpdate(RequestModel):
    """Partial update. ``status`` may move along the state machine, except to ``cancelled``
    (that needs ``POST /cancel`` with a reason)."""

    venue_id: uuid.UUID | None = omittable()
    name: Name | None = omittable()
    description: str | None = Field(default=None, max_length=10_000)
    category: EventCategory | None = omittable()
    start_date: IsoDatetime | None = omittable()
    end_date: IsoDatetime | None = omittable()
    doors_open: IsoDatetime | None = None
    capacity: int | None = omittable(ge=1, le=MAX_EVENT_CAPACITY)
    status: EventStatus | None = omittable()
    image_url: Url | None = None
    metadata: Metadata | None = omittable()

    @model_validator(mode="after")
    def _required_stay_set(self) -> EventUpdate:
        required = ("venue_id", "name", "category", "start_date", "end_date", "capacity")
        for name in (*required, "status", "metadata"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class EventRead(ResponseModel):
    id: uuid.UUID
    venue_id: uuid.UUID
    name: str
    description: str | None
    category: EventCategory
    start_date: datetime
    end_date: datetime
    doors_open: datetime | None
    capacity: int
    status: EventStatus
    image_url: str | None
    metadata: dict[str, Any] = metadata_field()
    published_at: datetime | None
    cancelled_at: datetime | None
    cancellation_reason: str | None
    created_at: datetime
    updated_at: datetime


class EventFilters(RequestModel):
    status: EventStatus | None = None
    category: EventCategory | None = None
    venue_id: uuid.UUID | None = None
    start_date: date | None = None
    end_date: date | None = None
    min_price: Decimal | None = Field(default=None, ge=0, le=Decimal("99999999.99"))
    max_price: Decimal | None = Field(default=None, ge=0, le=Decimal("99999999.99"))
    q: str | None = Field(default=None, min_length=1, max_length=200)


class RefundPolicy(StrEnum):
    FULL = "full"
    PARTIAL = "partial"
    NONE = "none"


# Above 0 and below 100, at most two places.
PERCENT_PATTERN = r"(?:0\.(?:0[1-9]|[1-9][0-9]?)|[1-9][0-9]?(?:\.[0-9]{1,2})?)"
PartialPercentage = Annotated[
    Decimal,
    *decimal_text(
        PERCENT_PATTERN, number={"exclusiveMinimum": 0, "exclusiveMaximum": 100}, gt=0, lt=100
    ),
]


def _percentage_only_when_partial(schema: dict[str, Any]) -> None:
    """``refund_percentage`` is required for the partial policy and absent (or null) otherwise."""
    schema["if"] = {
        "properties": {"refund_policy": {"const": RefundPolicy.PARTIAL.value}},
        "required": ["refund_policy"],
    }
    schema["then"] = {
        "required": ["refund_percentage"],
        "properties": {"refund_percentage": {"not": {"type": "null"}}},
    }
    schema["else"] = {"properties": {"refund_percentage": {"type": "null"}}}


class EventCancel(RequestModel):
    model_config = ConfigDict(json_schema_extra=_percentage_only_when_partial)

    reason: str = Field(min_length=3, max_length=1000)
    refund_policy: RefundPolicy = RefundPolicy.FULL
    refund_percentage: PartialPercentage | None = None

    @model_validator(mode="after")
    def _percentage_with_partial(self) -> EventCancel:
        partial = self.refund_policy is RefundPolicy.PARTIAL
        if partial and self.refund_percentage is None:
            raise ValueError("refund_percentage is required for a partial refund")
        if not partial and self.refund_percentage is not None:
            raise ValueError("refund_percentage is only for a partial refund")
        return self


class CapacityUpdate(RequestModel):
    capacity: int = Field(ge=1, le=MAX_EVENT_CAPACITY)


class EventDeleted(BaseModel):
    id: uuid.UUID
    deleted: bool


class Capacity(BaseModel):
    total: int
    sold: int
    reserved: int
    available: int


class AnalyticsRevenue(BaseModel):
    gross: MoneyText
    refunded: MoneyText
    net: MoneyText


class TicketTypeSales(BaseModel):
    id: uuid.UUID
    name: str
    price: MoneyText
    quantity: int
    sold: int
    reserved: int
    available: int
    revenue: MoneyText


class EventAnalytics(BaseModel):
    event_id: uuid.UUID
    status: EventStatus
    capacity: Capacity
    sell_through_percent: DecimalText
    orders: int
    revenue: AnalyticsRevenue
    ticket_types: list[TicketTypeSales]


class EventCancelled(BaseModel):
    event: EventRead
    refund_policy: RefundPolicy
    refund_percentage: DecimalText | None
    holds_released: int
    refunds_queued: int
    refund_amount: MoneyText
    orders_cancelled: int
    tickets_invalidated: int
    holders_notified: int
