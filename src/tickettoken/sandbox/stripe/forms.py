"""Stripe's parameter encoding: form bodies and query strings with bracket nesting.

``metadata[k]=v`` is a hash, ``expand[0]=a`` and ``expand[]=a`` are arrays,
``items[0][price]=p`` an array of hashes, the encoding every Stripe SDK sends.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from tickettoken.sandbox.stripe.errors import invalid, unknown_param

_PART = re.compile(r"\[([^\]]*)\]")


def _path(key: str) -> list[str]:
    head, _, rest = key.partition("[")
    return [head, *_PART.findall("[" + rest)] if rest else [head]


def _arrays(node: Any) -> Any:
    """Turn hashes keyed 0..n into lists (after every pair is in place)."""
    if not isinstance(node, dict):
        return node
    converted = {k: _arrays(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def parse_params(encoded: str) -> dict[str, Any]:
    """``a=1&metadata[k]=v&expand[]=x`` ->
    ``{"a": "1", "metadata": {"k": "v"}, "expand": ["x"]}``."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(encoded, keep_blank_values=True):
        parts = _path(key)
        node = root
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if part == "":
                part = str(len(node))
            if last:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
    result: dict[str, Any] = _arrays(root)
    return result


def as_bool(value: Any) -> bool:
    return str(value).lower() == "true"


def as_int(data: dict[str, Any], name: str) -> int | None:
    raw = data.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise invalid(f"Invalid integer: {raw}", "parameter_invalid_integer", name) from None


def check_known(data: dict[str, Any], allowed: set[str]) -> None:
    """Stripe refuses parameters an endpoint does not take (``parameter_unknown``)."""
    for name in data:
        if name not in allowed and name != "expand":
            raise unknown_param(name)
