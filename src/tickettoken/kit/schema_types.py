"""Pydantic building blocks shared by the services' request and response schemas.

The types here document exactly what they accept: money is a string with a pattern that encodes
its bounds (or a JSON number with at most two places), a moment is an RFC 3339 ``date-time``
with an offset in the years 1970-2200, a time zone is one of the IANA names. Whatever the
OpenAPI schema allows is accepted and whatever it forbids is refused (schemathesis checks both).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    AliasChoices,
    AliasGenerator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema
from typing_extensions import TypeAliasType

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


# Years 1970-2200 as a pattern, so generated clients and fuzzers know the bound too.
_YEAR = r"(?:19[7-9][0-9]|2[01][0-9][0-9]|2200)"
_DAY = r"-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"

_CLOCK = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
_OFFSET = r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
# RFC 3339 (what ``format: date-time`` means); a filter may leave the offset out (read as UTC).
_ISO_DATETIME = re.compile(_YEAR + _DAY + "[Tt]" + _CLOCK + _OFFSET)
_ISO_INSTANT = re.compile(_YEAR + _DAY + "[Tt]" + _CLOCK + _OFFSET + "?")
# The documented form: the same, with each month's real length. February stops at the 28th: the
# 29th is accepted but not described, or generators would send it in years without one.
_MONTH_DAY = (
    r"-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_ANY_YEAR = r"(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_ANY_YEAR_DATE_PATTERN = f"^{_ANY_YEAR}{_MONTH_DAY}$"
_DATETIME_PATTERN = f"^{_YEAR}{_MONTH_DAY}[Tt]{_CLOCK}{_OFFSET}$"


def _iso_text(pattern: re.Pattern[str], what: str) -> Any:
    """Only ISO text (or an already parsed value from Python): no Unix timestamps, which
    pydantic would otherwise read from numbers and digit strings."""

    def check(value: Any) -> Any:
        if isinstance(value, bool | int | float | Decimal):
            raise ValueError(f"must be an ISO 8601 {what} string")
        if isinstance(value, str) and not pattern.fullmatch(value):
            raise ValueError(f"must be an ISO 8601 {what} matching {pattern.pattern}")
        return value

    return BeforeValidator(check)


TimeZoneName = Annotated[
    str,
    AfterValidator(_known_timezone),
    WithJsonSchema({"type": "string", "enum": sorted(_TIMEZONES)}),
]
_DATETIME_SCHEMA = {"type": "string", "format": "date-time", "pattern": _DATETIME_PATTERN}
AwareDatetime = Annotated[datetime, AfterValidator(_aware)]
"""An aware moment in 1970-2200 in whatever form pydantic reads (job payloads: providers may send
epoch numbers). Request bodies use ``IsoDatetime``."""
IsoDatetime = Annotated[
    datetime,
    _iso_text(_ISO_DATETIME, "date-time"),
    AfterValidator(_aware),
    WithJsonSchema(_DATETIME_SCHEMA, mode="validation"),
]
"""A request's moment: RFC 3339 text with an offset, years 1970-2200, as its schema says."""
UtcInstant = Annotated[
    datetime,
    _iso_text(_ISO_INSTANT, "date-time"),
    AfterValidator(_utc_instant),
    WithJsonSchema(
        {
            **_DATETIME_SCHEMA,
            "description": "RFC 3339 date-time (an offset may be left out: read as UTC)",
        },
        mode="validation",
    ),
]
IsoDate = Annotated[
    date,
    _iso_text(re.compile(r"[0-9]{4}" + _DAY), "date"),
    WithJsonSchema({"type": "string", "format": "date", "pattern": _ANY_YEAR_DATE_PATTERN}),
]
"""A calendar date as ISO text, any year from 1 to 9999 (a date filter cannot overflow; no Unix
timestamps: ``0`` is refused)."""


def _two_places(value: Any) -> Any:
    """Strings must match the documented pattern; a float that is a whole number of cents up
    to binary rounding (0.57 arrives as 0.5700000000000001) counts as that many cents."""
    if isinstance(value, bool):
        raise ValueError("must be a decimal number")
    if isinstance(value, float) and value == value and abs(value) < 1e12:
        cents = round(value * 100)
        if abs(value * 100 - cents) < 1e-6:
            return Decimal(cents) / 100
    return value


def decimal_text(pattern: str, *, number: dict[str, Any], **bounds: Any) -> Any:
    """A two-place decimal sent as a string matching ``pattern`` (which spells its bounds) or as
    a JSON number within ``number``; the schema says exactly that."""
    compiled = re.compile(pattern)

    def check_text(value: Any) -> Any:
        if isinstance(value, str) and not compiled.fullmatch(value):
            raise ValueError(f"must be a decimal with at most 2 places matching {pattern}")
        return _two_places(value)

    schema = {
        "anyOf": [
            {"type": "number", "multipleOf": 0.01, **number},
            {"type": "string", "pattern": f"^{pattern}$"},
        ]
    }
    return (
        BeforeValidator(check_text),
        Field(decimal_places=2, **bounds),
        WithJsonSchema(schema, mode="validation"),
    )


_CENTS = r"(?:\.[0-9]{1,2})?"
MONEY_PATTERN = rf"(?:[0-9]{{1,6}}{_CENTS}|1000000(?:\.0{{1,2}})?)"
Money = Annotated[
    Decimal,
    *decimal_text(
        MONEY_PATTERN, number={"minimum": 0, "maximum": 1_000_000}, ge=0, le=Decimal("1000000")
    ),
    PlainSerializer(lambda v: f"{v:.2f}", return_type=str),
]
MONEY_OUT_PATTERN = r"^-?[0-9]+\.[0-9]{2}$"
MoneyOut = Annotated[
    Decimal,
    PlainSerializer(lambda v: f"{v:.2f}", return_type=str),
    WithJsonSchema({"type": "string", "pattern": MONEY_OUT_PATTERN}, mode="serialization"),
]
Timestamp = Annotated[
    datetime,
    PlainSerializer(lambda v: v.isoformat(), return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]
"""A moment a response sends as ``datetime.isoformat()`` gives it (views built as dicts keep
their exact text when a response model re-validates them)."""
MoneyText = Annotated[str, Field(pattern=MONEY_OUT_PATTERN, examples=["25.00"])]
"""Money a response sends, already formatted: a string with exactly two places."""
DecimalText = Annotated[str, Field(pattern=r"^-?\d+(?:\.\d+)?$")]
"""Another decimal a response sends as a string (percentages, averages)."""
METADATA_MAX_BYTES = 16_384


METADATA_MAX_KEYS = 50
_STORABLE = r"^[^\x00]*$"


def _bounded_metadata(value: Any) -> dict[str, Any]:
    """Free-form ``metadata`` stays small: it is stored and sent with every read of its row."""
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object")
    if len(value) > METADATA_MAX_KEYS:
        raise ValueError(f"must have at most {METADATA_MAX_KEYS} keys")
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > METADATA_MAX_BYTES:
        raise ValueError(f"must be at most {METADATA_MAX_BYTES} bytes as JSON")
    return value


class _KeysWithoutNul:
    """Schema marker: an object's keys contain no NUL either."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["propertyNames"] = {"pattern": _STORABLE}
        return schema


StorableText = Annotated[str, Field(pattern=r"^[^\x00]*$")]
StorableJson = TypeAliasType(
    "StorableJson",
    "StorableText | int | float | bool | list[StorableJson]"
    " | Annotated[dict[str, StorableJson], _KeysWithoutNul()] | None",
)
"""Any JSON without NUL characters (what the request guard lets through), for the schema only."""

Metadata = Annotated[
    dict[str, Any],
    PlainValidator(
        _bounded_metadata,
        json_schema_input_type=Annotated[
            dict[str, StorableJson], Field(max_length=METADATA_MAX_KEYS), _KeysWithoutNul()
        ],
    ),
]


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


def _snake_or_camel(name: str) -> AliasChoices | str:
    camel = to_camel(name)
    return AliasChoices(name, camel) if camel != name else name


# What str_strip_whitespace strips (Unicode White_Space, as pydantic-core's trim does).
_SPACE = r"\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def non_blank(length: int = 1) -> str:
    """Pattern of text with at least ``length`` characters once white space is stripped."""
    return _at_least(length)


def _at_least(length: int) -> str:
    """Text of at least ``length`` characters once surrounding white space is stripped."""
    edge = rf"[^{_SPACE}\x00]"
    if length == 1:
        return rf"^[^\x00]*{edge}[^\x00]*$"
    return rf"^[{_SPACE}]*{edge}[^\x00]{{{length - 2},}}{edge}[{_SPACE}]*$"


def _document_storable(schema: dict[str, Any]) -> None:
    """Say in the schema what the guard and whitespace stripping enforce: no NUL in free text,
    and a required text is not blank (it is stripped before its length is checked)."""
    for branch in schema.get("anyOf", ()):
        _document_storable(branch)
    if schema.get("type") == "string" and not {"pattern", "format", "enum", "const"} & set(schema):
        least = schema.get("minLength", 0)
        schema["pattern"] = _at_least(least) if least else _STORABLE
    if schema.get("type") == "object" and "properties" not in schema:
        schema.setdefault("propertyNames", {"pattern": _STORABLE})


class RequestModel(BaseModel):
    """Request bodies reject unknown fields, so a typo is a 422 and not a silent no-op, and
    text PostgreSQL cannot store (NUL, lone surrogates).

    Every field is also accepted under its camelCase name (``venueId``, ``ticketTypeId``), as the
    original platform's clients send them; the OpenAPI shows the snake_case name only.
    """

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        alias_generator=AliasGenerator(validation_alias=_snake_or_camel),
    )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        for field_schema in handler.resolve_ref_schema(schema).get("properties", {}).values():
            _document_storable(field_schema)
        return schema

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        if contains_unstorable_text(data):
            raise ValueError("text must not contain NUL characters or lone surrogates")
        return data


def _without_null(schema: dict[str, Any]) -> None:
    """Drop the ``null`` branch of an optional field's schema."""
    branches = schema.pop("anyOf", None)
    if branches is None:
        return
    kept = [b for b in branches if b != {"type": "null"}]
    if len(kept) == 1:
        schema.update(kept[0])
    else:
        schema["anyOf"] = kept
    if schema.get("default", ...) is None:
        del schema["default"]


def omittable(**constraints: Any) -> Any:
    """A field of a partial update that may be left out but not sent as ``null`` (the model
    refuses null for it): the schema says so, instead of offering ``null``."""
    return Field(default=None, json_schema_extra=_without_null, **constraints)


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
