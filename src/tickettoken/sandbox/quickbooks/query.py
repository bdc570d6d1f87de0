"""The QuickBooks query language, the subset the platform and ``python-quickbooks`` send.

``SELECT * | COUNT(*) | field, ... FROM Entity [WHERE cond AND cond ...]
[ORDER BY | ORDERBY field [ASC|DESC]] [STARTPOSITION n] [MAXRESULTS n]`` with ``=``, ``<``,
``>``, ``<=``, ``>=``, ``!=``, ``IN (...)`` and ``LIKE '%x%'`` on dotted fields
(``MetaData.LastUpdatedTime``, ``CustomerRef``). As in QuickBooks: keywords and entity names are
case-insensitive, there is no ``OR``, ``STARTPOSITION`` is 1-based, ``MAXRESULTS`` defaults to
100 and may not exceed 1,000, string comparisons ignore case, and times compare as instants.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from tickettoken.sandbox.quickbooks.faults import QboFault, parse_qbo_time

TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<number>-?\d+(?:\.\d+)?)|(?P<op><=|>=|!=|<>|=|<|>)"
    r"|(?P<punct>[(),*])|(?P<word>[A-Za-z_][\w.]*))"
)
MAX_RESULTS = 1000


@dataclass
class Query:
    entity: str
    fields: list[str] | None  # None: every field
    count: bool = False
    conditions: list[tuple[str, str, Any]] = field(default_factory=list)
    order: tuple[str, bool] | None = None  # field, descending
    start: int = 1
    limit: int = 100


def parse_error(detail: str) -> QboFault:
    return QboFault("4000", "Error parsing query", f"QueryParserError: {detail}")


def _tokens(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    position = 0
    text = text.strip().rstrip(";")
    while position < len(text):
        match = TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise parse_error(f'Encountered "{text[position : position + 10]}" at {position}')
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


class _Reader:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens, self.at = tokens, 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.at += 1
        return token

    def keyword(self, *words: str) -> bool:
        kind, value = self.peek()
        if kind == "word" and value.upper() in words:
            self.at += 1
            return True
        return False

    def expect(self, word: str) -> None:
        if not self.keyword(word):
            raise parse_error(f'Encountered "{self.peek()[1]}", expected {word}')

    def value(self) -> Any:
        kind, text = self.take()
        if kind == "string":
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        if kind == "number":
            return Decimal(text)
        if kind == "word" and text.lower() in {"true", "false"}:
            return text.lower() == "true"
        raise parse_error(f'Encountered "{text}", expected a value')

    def integer(self) -> int:
        kind, text = self.take()
        if kind != "number" or "." in text:
            raise parse_error(f'Encountered "{text}", expected an integer')
        return int(text)


def parse(text: str, entities: dict[str, str]) -> Query:
    """``entities`` maps lower-case names to canonical ones (``customer`` -> ``Customer``)."""
    reader = _Reader(_tokens(text))
    reader.expect("SELECT")
    count, fields = False, None
    if reader.keyword("COUNT"):
        if [reader.take()[1] for _ in range(3)] != ["(", "*", ")"]:
            raise parse_error("COUNT takes (*)")
        count = True
    elif reader.peek()[1] == "*":
        reader.take()
        while reader.peek()[1] == ",":  # "SELECT *, Sku FROM Item"
            reader.take()
            reader.take()
    else:
        fields = []
        while True:
            kind, name = reader.take()
            if kind != "word":
                raise parse_error(f'Encountered "{name}", expected a field')
            fields.append(name)
            if reader.peek()[1] != ",":
                break
            reader.take()
    reader.expect("FROM")
    kind, name = reader.take()
    entity = entities.get(name.lower()) if kind == "word" else None
    if entity is None:
        raise QboFault("4001", "Invalid query", f"QueryValidationError: Unknown entity {name}")
    query = Query(entity, fields, count)
    if reader.keyword("WHERE"):
        query.conditions.append(_condition(reader))
        while reader.keyword("AND"):
            query.conditions.append(_condition(reader))
        if reader.peek()[1].upper() == "OR":
            raise parse_error("OR is not supported")
    if reader.keyword("ORDERBY") or (reader.keyword("ORDER") and reader.keyword("BY")):
        order_field = reader.take()[1]
        query.order = (order_field, reader.keyword("DESC") or (reader.keyword("ASC") and False))
    if reader.keyword("STARTPOSITION"):
        query.start = max(1, reader.integer())
    if reader.keyword("MAXRESULTS"):
        query.limit = reader.integer()
        if query.limit > MAX_RESULTS:
            raise QboFault(
                "4001",
                "Invalid query",
                f"QueryValidationError: value {query.limit} is too large. Max allowed value is"
                f" {MAX_RESULTS}",
            )
    if reader.peek()[0] != "end":
        raise parse_error(f'Encountered "{reader.peek()[1]}"')
    return query


def _condition(reader: _Reader) -> tuple[str, str, Any]:
    kind, name = reader.take()
    if kind != "word":
        raise parse_error(f'Encountered "{name}", expected a field')
    if reader.keyword("IN"):
        if reader.take()[1] != "(":
            raise parse_error("IN takes a parenthesised list")
        values = [reader.value()]
        while reader.peek()[1] == ",":
            reader.take()
            values.append(reader.value())
        if reader.take()[1] != ")":
            raise parse_error("unclosed IN list")
        return name, "IN", values
    if reader.keyword("LIKE"):
        return name, "LIKE", reader.value()
    op_kind, op = reader.take()
    if op_kind != "op":
        raise parse_error(f'Encountered "{op}", expected an operator')
    return name, "!=" if op == "<>" else op, reader.value()


def _field(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if isinstance(value, dict):
            value = next((v for k, v in value.items() if k.lower() == part.lower()), None)
        else:
            return None
    if isinstance(value, dict) and "value" in value:  # a reference: compare its id
        return value["value"]
    return value


def _comparable(left: Any, right: Any) -> tuple[Any, Any]:
    if isinstance(right, Decimal) or isinstance(left, int | float | Decimal):
        try:
            return Decimal(str(left)), Decimal(str(right))
        except InvalidOperation:
            pass
    if isinstance(left, str) and isinstance(right, str) and re.match(r"^\d{4}-\d{2}-\d{2}", right):
        try:
            return parse_qbo_time(left), parse_qbo_time(right)
        except ValueError:
            pass
    if isinstance(left, bool) or isinstance(right, bool):
        return str(left).lower(), str(right).lower()
    return str(left).lower(), str(right).lower()


def matches(record: dict[str, Any], condition: tuple[str, str, Any]) -> bool:
    name, op, expected = condition
    actual = _field(record, name)
    if actual is None:
        return False
    if op == "IN":
        return any(_comparable(actual, v)[0] == _comparable(actual, v)[1] for v in expected)
    if op == "LIKE":
        pattern = "^" + ".*".join(re.escape(p) for p in str(expected).lower().split("%")) + "$"
        return re.match(pattern, str(actual).lower()) is not None
    left, right = _comparable(actual, expected)
    try:
        return bool(
            {
                "=": left == right,
                "!=": left != right,
                "<": left < right,
                ">": left > right,
                "<=": left <= right,
                ">=": left >= right,
            }[op]
        )
    except TypeError:
        return False


def run(query: Query, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``QueryResponse`` object for ``records`` (all of one entity, in id order)."""
    found = [r for r in records if all(matches(r, c) for c in query.conditions)]
    if query.count:
        return {"totalCount": len(found)}
    if query.order:
        key, descending = query.order
        found.sort(key=lambda r: _sort_key(_field(r, key)), reverse=descending)
    page = found[query.start - 1 : query.start - 1 + query.limit]
    if not page:
        return {}
    if query.fields is not None:
        wanted = {f.lower() for f in query.fields} | {
            "id",
            "synctoken",
            "metadata",
            "domain",
            "sparse",
        }
        page = [{k: v for k, v in r.items() if k.lower() in wanted} for r in page]
    return {query.entity: page, "startPosition": query.start, "maxResults": len(page)}


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    try:
        return (1, Decimal(str(value)))
    except InvalidOperation:
        return (2, str(value).lower())
