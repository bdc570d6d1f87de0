"""Stripe's list objects (``limit``, ``starting_after``, ``ending_before``, ``has_more``), the
search query language (a subset) with ``next_page`` tokens, and ``expand[]``.

Lists are newest first, as Stripe's are. The search subset: clauses ``field:'value'`` (exact,
case-insensitive), ``field~'value'`` (substring, at least 3 characters), ``-field:'value'``
(negation), ``metadata['key']:'value'`` and ``field>N`` / ``<`` / ``>=`` / ``<=`` for numbers,
joined by ``AND`` or by ``OR`` (not both in one query, as Stripe requires). Unlike Stripe,
results are
never delayed (Stripe's search index can lag writes by up to a minute).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable
from typing import Any

from tickettoken.sandbox.stripe.errors import invalid, no_such
from tickettoken.sandbox.stripe.forms import as_int

Lookup = Callable[[str], dict[str, Any] | None]


def _limit(params: dict[str, Any]) -> int:
    limit = as_int(params, "limit")
    if limit is None:
        return 10
    if not 1 <= limit <= 100:
        raise invalid(
            "Invalid limit: must be between 1 and 100", "parameter_invalid_integer", "limit"
        )
    return limit


def list_page(
    objects: Iterable[dict[str, Any]], params: dict[str, Any], url: str, kind: str
) -> dict[str, Any]:
    """One page of a list, newest first; cursors are object ids of the same list."""
    items = list(objects)[::-1]
    limit = _limit(params)
    ids = [o["id"] for o in items]
    after, before = params.get("starting_after"), params.get("ending_before")
    if after:
        if after not in ids:
            raise no_such(kind, str(after), "starting_after")
        start = ids.index(after) + 1
        page, has_more = items[start : start + limit], len(items) > start + limit
    elif before:
        if before not in ids:
            raise no_such(kind, str(before), "ending_before")
        end = ids.index(before)
        page, has_more = items[max(0, end - limit) : end], end - limit > 0
    else:
        page, has_more = items[:limit], len(items) > limit
    return {"object": "list", "data": page, "has_more": has_more, "url": url}


_CLAUSE = re.compile(
    r"^(?P<neg>-)?(?P<field>[a-z_.]+(?:\['[^']+'\])?)\s*(?P<op>:|~|>=|<=|>|<)\s*"
    r"(?P<value>'[^']*'|\"[^\"]*\"|[-\w.]+)$"
)


def _field(obj: dict[str, Any], name: str) -> Any:
    meta = re.fullmatch(r"metadata\['([^']+)'\]", name)
    if meta:
        return (obj.get("metadata") or {}).get(meta.group(1))
    value: Any = obj
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _matches(obj: dict[str, Any], clause: re.Match[str]) -> bool:
    raw = clause.group("value").strip("'\"")
    actual, op = _field(obj, clause.group("field")), clause.group("op")
    if op == ":":
        result = actual is not None and str(actual).lower() == raw.lower()
    elif op == "~":
        result = actual is not None and raw.lower() in str(actual).lower()
    else:
        try:
            left, right = float(actual), float(raw)
        except (TypeError, ValueError):
            return False
        result = {">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right}[
            op
        ]
    return not result if clause.group("neg") else result


def _parse_query(query: str, fields: set[str]) -> tuple[list[re.Match[str]], bool]:
    has_and, has_or = " AND " in query, " OR " in query
    if has_and and has_or:
        raise invalid("Search queries cannot mix AND and OR.", "parameter_invalid", "query")
    parts = re.split(r" (?:AND|OR) ", query.strip())
    clauses = []
    for part in parts:
        match = _CLAUSE.match(part.strip())
        if match is None:
            raise invalid(f"Invalid query: '{query}'.", "parameter_invalid", "query")
        base = match.group("field").split("[")[0].split(".")[0]
        if base not in fields:
            raise invalid(
                f"Field '{base}' is an unsupported search field for this resource.",
                "parameter_invalid",
                "query",
            )
        if match.group("op") == "~" and len(match.group("value").strip("'\"")) < 3:
            raise invalid(
                "Substring search requires at least 3 characters.", "parameter_invalid", "query"
            )
        clauses.append(match)
    return clauses, has_or


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset(token: str) -> int:
    try:
        kind, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind == "offset":
            return int(value)
    except (ValueError, UnicodeDecodeError):
        pass
    raise invalid("Invalid page token.", "parameter_invalid", "page")


def search_page(
    objects: Iterable[dict[str, Any]], params: dict[str, Any], url: str, fields: set[str]
) -> dict[str, Any]:
    query = params.get("query")
    if not query:
        raise invalid("Missing required param: query.", "parameter_missing", "query")
    clauses, any_of = _parse_query(str(query), fields)
    combine = any if any_of else all
    found = [o for o in list(objects)[::-1] if combine(_matches(o, c) for c in clauses)]
    limit, start = _limit(params), _offset(str(params["page"])) if params.get("page") else 0
    page = found[start : start + limit]
    has_more = len(found) > start + limit
    return {
        "object": "search_result",
        "data": page,
        "has_more": has_more,
        "next_page": _page_token(start + limit) if has_more else None,
        "url": url,
        "total_count": len(found),
    }


def expand(obj: dict[str, Any], paths: Any, lookup: Lookup) -> dict[str, Any]:
    """A copy of ``obj`` with each ``expand[]`` path's id replaced by the object it names."""
    if not paths:
        return obj
    if not isinstance(paths, list):
        paths = [paths]
    result = dict(obj)
    for path in paths:
        _expand_path(result, str(path).split("."), lookup, str(path))
    return result


def _expand_path(node: dict[str, Any], parts: list[str], lookup: Lookup, full: str) -> None:
    head, rest = parts[0], parts[1:]
    if head == "data" and isinstance(node.get("data"), list) and rest:
        node["data"] = [dict(item) for item in node["data"]]
        for item in node["data"]:
            _expand_path(item, rest, lookup, full)
        return
    if head not in node:
        raise invalid(f"This property cannot be expanded ({full}).", param="expand")
    value = node[head]
    if isinstance(value, str):
        found = lookup(value)
        if found is None:
            raise invalid(f"This property cannot be expanded ({full}).", param="expand")
        value = node[head] = dict(found)
    if rest:
        if not isinstance(value, dict):
            raise invalid(f"This property cannot be expanded ({full}).", param="expand")
        _expand_path(value, rest, lookup, full)
