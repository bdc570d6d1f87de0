"""A venue's mapping rules: how they are stored, checked and applied.

Stored in ``integration_configs.field_mappings`` (and ``field_mapping_templates.mappings``) as
``{"version": 2, "rules": [{"source", "target", "transform"?}, ...]}``. The original stored a flat
``{source: target}`` object; ``load_rules`` still reads that form (the ``heal`` route rewrites
it), so nothing stored by the original is lost. A list and not a dict: one source may fill two
targets, while a target is filled by one rule only.

``check_rules`` answers every problem at once, each naming its rule and field, instead of the
original's ``Error`` that became a 500. ``apply_rules`` is what the sync engine and the ``test``
route run: dotted paths into nested dicts and lists, with guards on depth, size and cycles so a
hostile sample is a clear error, never a RecursionError.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from tickettoken.integrations.mappings.fields import (
    PROVIDER_FIELDS,
    SOURCE_INDEX,
    ValueType,
)
from tickettoken.integrations.mappings.transforms import ASSIGNABLE, TRANSFORMS, TransformFailed

STORAGE_VERSION: Final = 2
MAX_RULES: Final = 100
MAX_SAMPLE_DEPTH: Final = 16
MAX_SAMPLE_NODES: Final = 5_000
MAX_TEXT: Final = 10_000


@dataclass(frozen=True)
class Rule:
    source: str
    target: str
    transform: str | None = None

    def stored(self) -> dict[str, str]:
        out = {"source": self.source, "target": self.target}
        if self.transform:
            out["transform"] = self.transform
        return out


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    value: str | None = None

    def detail(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "message": self.message}
        if self.value is not None:
            out["value"] = _shown(self.value)
        return out


def dump_rules(rules: Iterable[Rule]) -> dict[str, Any]:
    return {"version": STORAGE_VERSION, "rules": [r.stored() for r in rules]}


def load_rules(stored: Any) -> tuple[list[Rule], int]:
    """The rules of a stored value (this form or the original's ``{source: target}``), and how
    many entries were unreadable (skipped; ``heal`` reports and drops them)."""
    if not stored:
        return [], 0
    if not isinstance(stored, Mapping):
        return [], 1
    rules: list[Rule] = []
    unreadable = 0
    if "version" in stored:
        entries = stored.get("rules")
        if not isinstance(entries, list):
            return [], 1
        for entry in entries:
            rule = _rule_of(entry)
            if rule is None:
                unreadable += 1
            else:
                rules.append(rule)
        return rules, unreadable
    for source, target in stored.items():  # the original's flat form
        if source == "version":
            continue
        if isinstance(source, str) and isinstance(target, str):
            rules.append(Rule(source, target))
        else:
            unreadable += 1
    return rules, unreadable


def _rule_of(entry: Any) -> Rule | None:
    if not isinstance(entry, Mapping):
        return None
    source, target, transform = entry.get("source"), entry.get("target"), entry.get("transform")
    if not isinstance(source, str) or not isinstance(target, str):
        return None
    if transform is not None and not isinstance(transform, str):
        return None
    return Rule(source, target, transform or None)


def _shown(text: str) -> str:
    return text if len(text) <= 120 else text[:117] + "..."


def rule_problems(provider: str, rule: Rule, where: str) -> list[Problem]:
    """What is wrong with one rule on its own (unknown names, types that do not fit)."""
    fields = PROVIDER_FIELDS[provider]
    problems: list[Problem] = []
    source = SOURCE_INDEX.get(rule.source)
    target = fields.target(rule.target)
    if source is None:
        problems.append(
            Problem(f"{where}.source", f"unknown source field '{_shown(rule.source)}'", rule.source)
        )
    if target is None:
        problems.append(
            Problem(
                f"{where}.target",
                f"unknown {provider} target field '{_shown(rule.target)}'",
                rule.target,
            )
        )
    transform = None
    if rule.transform is not None:
        transform = TRANSFORMS.get(rule.transform)
        if transform is None:
            problems.append(
                Problem(
                    f"{where}.transform",
                    f"unknown transform '{_shown(rule.transform)}'",
                    rule.transform,
                )
            )
    if source is None or target is None or (rule.transform is not None and transform is None):
        return problems
    assert target is not None and source is not None
    obj = fields.object_named(target.object)
    if obj is not None and source.entity not in obj.sources:
        problems.append(
            Problem(
                f"{where}.source",
                f"'{source.path}' is not available when building a {provider} {obj.name}"
                f" (it is built from {', '.join(obj.sources)})",
                source.path,
            )
        )
    value_type: ValueType = source.type
    if transform is not None:
        if value_type not in transform.accepts:
            problems.append(
                Problem(
                    f"{where}.transform",
                    f"transform '{transform.name}' takes {', '.join(transform.accepts)},"
                    f" not '{source.path}' ({value_type})",
                    transform.name,
                )
            )
            return problems
        value_type = transform.output_type(value_type)
    if value_type not in ASSIGNABLE[target.type]:
        problems.append(
            Problem(
                f"{where}.target",
                f"type mismatch: '{target.path}' takes {target.type},"
                f" '{source.path}' gives {value_type}" + _hint(value_type, target.type),
                target.path,
            )
        )
    return problems


def _hint(given: ValueType, wanted: ValueType) -> str:
    for transform in TRANSFORMS.values():
        if given in transform.accepts and transform.output_type(given) in ASSIGNABLE[wanted]:
            return f" (transform '{transform.name}' would fit)"
    return ""


def check_rules(provider: str, rules: list[Rule]) -> list[Problem]:
    """Every problem of a set of rules: each rule, duplicate targets, required targets of the
    objects the rules fill."""
    problems: list[Problem] = []
    if len(rules) > MAX_RULES:
        return [Problem("mappings", f"at most {MAX_RULES} rules")]
    seen: dict[str, int] = {}
    for index, rule in enumerate(rules):
        where = f"mappings[{index}]"
        problems.extend(rule_problems(provider, rule, where))
        if rule.target in seen:
            problems.append(
                Problem(
                    f"{where}.target",
                    f"duplicate target '{_shown(rule.target)}' (already filled by"
                    f" mappings[{seen[rule.target]}])",
                    rule.target,
                )
            )
        else:
            seen[rule.target] = index
    fields = PROVIDER_FIELDS[provider]
    used = {t.object for t in (fields.target(r.target) for r in rules) if t is not None}
    for target in fields.targets:
        if target.required and target.object in used and target.path not in seen:
            problems.append(
                Problem(
                    "mappings",
                    f"required target '{target.path}' is not mapped (needed by every"
                    f" {provider} {target.object})",
                    target.path,
                )
            )
    return problems


# --- applying rules to data --------------------------------------------------------------------


class SampleError(ValueError):
    """The data cannot be mapped; ``field`` names where (``sample.customer.email``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def check_sample(sample: Any) -> None:
    """Refuse data too deep, too large or cyclic before any path is followed."""
    nodes = 0
    active: set[int] = set()

    def walk(value: Any, where: str, depth: int) -> None:
        nonlocal nodes
        nodes += 1
        if nodes > MAX_SAMPLE_NODES:
            raise SampleError("sample", f"too large: more than {MAX_SAMPLE_NODES} values")
        if depth > MAX_SAMPLE_DEPTH:
            raise SampleError(where, f"nested deeper than {MAX_SAMPLE_DEPTH} levels")
        if isinstance(value, str):
            if len(value) > MAX_TEXT:
                raise SampleError(where, f"text longer than {MAX_TEXT} characters")
            return
        if not isinstance(value, Mapping | list | tuple):
            return
        if id(value) in active:
            raise SampleError(where, "contains itself (a cycle)")
        active.add(id(value))
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise SampleError(where, "keys must be text")
                walk(item, f"{where}.{_shown(key)}", depth + 1)
        else:
            for index, item in enumerate(value):
                walk(item, f"{where}.{index}", depth + 1)
        active.discard(id(value))

    walk(sample, "sample", 0)


_MISSING: Final = object()


def read_path(data: Any, path: str) -> Any:
    """The value at a dotted path (``order.items.0.quantity``), or ``_MISSING``."""
    current = data
    for part in path.split("."):
        if isinstance(current, Mapping):
            current = current.get(part, _MISSING)
        elif isinstance(current, list | tuple) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
        if current is _MISSING:
            return _MISSING
    return current


def write_path(document: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path, creating dicts, and lists where the next part is an index."""
    parts = path.split(".")
    current: Any = document
    for part, following in itertools.pairwise(parts):
        child = _child(current, part)
        kind: type = list if following.isdigit() else dict
        if not isinstance(child, kind):
            child = kind()
            _put(current, part, child)
        current = child
    _put(current, parts[-1], value)


def _child(container: Any, part: str) -> Any:
    if isinstance(container, list):
        index = int(part)
        return container[index] if index < len(container) else None
    return container.get(part)


def _put(container: Any, part: str, value: Any) -> None:
    if isinstance(container, list):
        index = int(part)
        container.extend([None] * (index + 1 - len(container)))
        container[index] = value
    else:
        container[part] = value


_DECIMAL = re.compile(r"-?[0-9]{1,12}(?:\.[0-9]{1,6})?")


def read_value(value: Any, type_: ValueType, where: str) -> Any:
    """A sample's JSON value as the Python value of its declared type, or ``SampleError``."""
    if value is None:
        return None
    try:
        return _read(value, type_)
    except (ValueError, InvalidOperation, TypeError, OverflowError) as exc:
        detail = str(exc) if isinstance(exc, ValueError) and str(exc) else "invalid"
        raise SampleError(where, f"must be {_ARTICLE[type_]}: {detail}") from None


_ARTICLE: Final[dict[ValueType, str]] = {
    "string": "text",
    "email": "an e-mail address",
    "id": "an id (text)",
    "integer": "an integer",
    "decimal": "a decimal number",
    "boolean": "true or false",
    "date": "an ISO 8601 date",
    "datetime": "an ISO 8601 date-time",
    "string_list": "a list of texts",
}


def _read(value: Any, type_: ValueType) -> Any:
    if type_ in ("string", "id"):
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError(f"got {type(value).__name__}")
        return str(value)
    if type_ == "email":
        if not isinstance(value, str) or value.count("@") != 1 or len(value) > 254:
            raise ValueError("not an address")
        return value
    if type_ == "integer":
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 2**53:
            raise ValueError("not an integer within ±2^53")
        return value
    if type_ == "decimal":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"got {type(value).__name__}")
        text = value if isinstance(value, str) else repr(value)
        if not _DECIMAL.fullmatch(text):
            raise ValueError("at most 12 digits and 6 places")
        return Decimal(text)
    if type_ == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"got {type(value).__name__}")
        return value
    if type_ == "date":
        if not isinstance(value, str):
            raise ValueError("not text")
        return date.fromisoformat(value)
    if type_ == "datetime":
        if not isinstance(value, str):
            raise ValueError("not text")
        moment = datetime.fromisoformat(value)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("not a list of texts")
    return list(value)


@dataclass
class Applied:
    document: dict[str, Any]
    missing: list[str]  # sources absent from the data (their targets are left out)


def apply_rules(rules: list[Rule], data: Any) -> Applied:
    """The provider-side document of ``data`` under ``rules`` (which ``check_rules`` accepted):
    ``{object: {...}}``. Raises ``SampleError`` naming the value at fault."""
    check_sample(data)
    if not isinstance(data, Mapping):
        raise SampleError("sample", 'must be an object ({"event": {...}, "customer": {...}})')
    document: dict[str, Any] = {}
    missing: list[str] = []
    for rule in rules:
        source = SOURCE_INDEX[rule.source]
        raw = read_path(data, rule.source)
        if raw is _MISSING:
            missing.append(rule.source)
            continue
        where = f"sample.{rule.source}"
        value = read_value(raw, source.type, where)
        if value is not None and rule.transform:
            try:
                value = TRANSFORMS[rule.transform].apply(value)
            except (TransformFailed, ValueError, OverflowError) as exc:
                raise SampleError(where, f"transform '{rule.transform}' failed: {exc}") from None
        write_path(document, rule.target, value)
    return Applied(document, sorted(set(missing)))


def as_json(value: Any) -> Any:
    """A mapped document as JSON values: amounts as numbers, dates and moments as ISO text."""
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
