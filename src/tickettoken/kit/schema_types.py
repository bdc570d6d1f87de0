"""Pydantic building blocks shared by the event service's request and response schemas."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

_TIMEZONES = frozenset(available_timezones()) | {"UTC"}


def _known_timezone(value: str) -> str:
    if value not in _TIMEZONES:
        raise ValueError("unknown IANA time zone")
    return value


def _aware(value: datetime) -> datetime:
    """Aware, and in a sane range: extreme years overflow when converted to UTC (a 500)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must include a time zone offset")
    if not 1970 <= value.year <= 2200:
        raise ValueError("must be between the years 1970 and 2200")
    return value


def _utc_instant(value: datetime) -> datetime:
    """A moment to filter by: without an offset it is read as UTC (so it compares with stored
    times), then the range check of ``AwareDatetime``."""
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    return _aware(value)


TimeZoneName = Annotated[str, AfterValidator(_known_timezone)]
AwareDatetime = Annotated[datetime, AfterValidator(_aware)]
UtcInstant = Annotated[datetime, AfterValidator(_utc_instant)]
Money = Annotated[
    Decimal,
    Field(ge=0, le=Decimal("1000000.00"), max_digits=10, decimal_places=2),
    PlainSerializer(lambda v: f"{v:.2f}", return_type=str),
]
MoneyOut = Annotated[Decimal, PlainSerializer(lambda v: f"{v:.2f}", return_type=str)]
METADATA_MAX_BYTES = 16_384


def _bounded_metadata(value: dict[str, Any]) -> dict[str, Any]:
    """Free-form ``metadata`` stays small: it is stored and sent with every read of its row."""
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > METADATA_MAX_BYTES:
        raise ValueError(f"must be at most {METADATA_MAX_BYTES} bytes as JSON")
    return value


Metadata = Annotated[dict[str, Any], Field(max_length=50), AfterValidator(_bounded_metadata)]


def metadata_field() -> Any:
    """The ``metadata`` field, read from the models' ``metadata_`` attribute."""
    return Field(default_factory=dict, validation_alias=AliasChoices("metadata_", "metadata"))


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def contains_unstorable_text(value: Any) -> bool:
    """Whether a JSON value (keys included) holds text PostgreSQL cannot store: U+0000, or a
    lone surrogate (JSON ``"\\ud800"`` decodes to one; it has no UTF-8 form).

    Refusing it here makes it a 422 instead of a database or encoding error (a 500).
    """
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(
            contains_unstorable_text(k) or contains_unstorable_text(v) for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        return any(contains_unstorable_text(v) for v in value)
    return False


class RequestModel(BaseModel):
    """Request bodies reject unknown fields, so a typo is a 422 and not a silent no-op, and
    text PostgreSQL cannot store (NUL, lone surrogates)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        if contains_unstorable_text(data):
            raise ValueError("text must not contain NUL characters or lone surrogates")
        return data


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
