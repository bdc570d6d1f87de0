"""The transforms a mapping rule may apply between its source and its target.

The original copied values as they were (``getNestedValue`` → ``setNestedValue``), so a price of
25.00 went to Stripe's ``unit_amount`` as 25 cents. Here a rule whose source type does not fit
its target is refused unless a transform makes it fit: ``to_cents`` turns 25.00 into 2500.
Each transform says which value types it takes and which it gives, so validation knows the
outcome before any data is seen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final, Literal

from tickettoken.integrations.mappings.fields import ValueType

TransformName = Literal[
    "uppercase",
    "lowercase",
    "trim",
    "to_cents",
    "from_cents",
    "date_only",
    "unix_seconds",
    "to_string",
    "split_words",
]


class TransformFailed(ValueError):
    """The value cannot be transformed (an amount with fractions of a cent)."""


@dataclass(frozen=True)
class Transform:
    name: TransformName
    accepts: tuple[ValueType, ...]
    gives: ValueType | None  # None: the same type it was given
    description: str
    apply: Callable[[Any], Any]

    def output_type(self, given: ValueType) -> ValueType:
        return self.gives or given


def _cents(value: Decimal | int) -> int:
    cents = Decimal(value) * 100
    if cents != cents.to_integral_value():
        raise TransformFailed("has fractions of a cent")
    return int(cents)


def _text(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


_TEXT: Final[tuple[ValueType, ...]] = ("string", "email")
TRANSFORMS: Final[dict[str, Transform]] = {
    t.name: t
    for t in (
        Transform("uppercase", _TEXT, "string", "Upper case", str.upper),
        Transform("lowercase", _TEXT, None, "Lower case", str.lower),
        Transform("trim", _TEXT, None, "Without surrounding white space", str.strip),
        Transform("to_cents", ("decimal",), "integer", "25.00 → 2500", _cents),
        Transform(
            "from_cents", ("integer",), "decimal", "2500 → 25.00", lambda v: Decimal(v) / 100
        ),
        Transform("date_only", ("datetime",), "date", "The date of a moment", lambda v: v.date()),
        Transform(
            "unix_seconds",
            ("datetime",),
            "integer",
            "Seconds since 1970",
            lambda v: int(v.timestamp()),
        ),
        Transform(
            "to_string",
            ("email", "id", "integer", "decimal", "boolean", "date", "datetime"),
            "string",
            "As text (ISO 8601 for dates and moments)",
            _text,
        ),
        Transform("split_words", ("string",), "string_list", "Words as a list", str.split),
    )
}

# Which value types a target of a given type accepts without a transform.
ASSIGNABLE: Final[dict[ValueType, frozenset[ValueType]]] = {
    "string": frozenset({"string", "email", "id"}),
    "email": frozenset({"email"}),
    "id": frozenset({"id"}),
    "integer": frozenset({"integer"}),
    "decimal": frozenset({"decimal", "integer"}),
    "boolean": frozenset({"boolean"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"datetime"}),
    "string_list": frozenset({"string_list"}),
}
