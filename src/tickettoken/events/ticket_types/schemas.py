"""Request and response shapes of ticket types (SPEC 4.1 field names)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, model_validator

from tickettoken.kit.schema_types import (
    IsoDatetime,
    Metadata,
    Money,
    MoneyOut,
    RequestModel,
    ResponseModel,
    metadata_field,
    omittable,
)

Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
MAX_QUANTITY = 1_000_000
# After the first sale only these may change (SPEC 4.1).
CHANGEABLE_AFTER_SALE = frozenset({"description", "sale_end", "metadata"})


class TicketTypeCreate(RequestModel):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=5000)
    price: Money
    currency: Currency = "USD"
    quantity: int = Field(ge=1, le=MAX_QUANTITY)
    max_per_order: int = Field(default=6, ge=1, le=10)
    sale_start: IsoDatetime | None = None
    sale_end: IsoDatetime | None = None
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="after")
    def _window(self) -> TicketTypeCreate:
        if self.sale_start and self.sale_end and self.sale_end <= self.sale_start:
            raise ValueError("sale_end must be after sale_start")
        return self


class TicketTypeUpdate(RequestModel):
    name: str | None = omittable(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=5000)
    price: Money | None = omittable()
    currency: Currency | None = omittable()
    quantity: int | None = omittable(ge=1, le=MAX_QUANTITY)
    max_per_order: int | None = omittable(ge=1, le=10)
    sale_start: IsoDatetime | None = None
    sale_end: IsoDatetime | None = None
    metadata: Metadata | None = omittable()

    @model_validator(mode="after")
    def _required_stay_set(self) -> TicketTypeUpdate:
        for name in ("name", "price", "currency", "quantity", "max_per_order", "metadata"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class TicketTypeRead(ResponseModel):
    id: uuid.UUID
    event_id: uuid.UUID
    name: str
    description: str | None
    price: MoneyOut
    currency: Currency
    quantity: int
    sold: int
    reserved: int
    available: int
    max_per_order: int
    sale_start: datetime | None
    sale_end: datetime | None
    metadata: dict[str, Any] = metadata_field()
    created_at: datetime
    updated_at: datetime
