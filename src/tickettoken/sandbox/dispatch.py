"""A path table for emulators whose every answer, even "no such route", must be the provider's.

Starlette's router answers unknown paths and wrong methods with its own plain bodies; a provider's
SDK expects the provider's error shape there too. So each provider mounts one ASGI endpoint and
resolves ``(method, path)`` itself with this table, choosing the body of its 404 and 405.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[..., Awaitable[Any]]


@dataclass
class PathTable:
    """``add("GET", "/v2/customers/{customer_id}", h)``; ``match`` gives the handler and params."""

    entries: list[tuple[str, re.Pattern[str], Handler]] = field(default_factory=list)

    def add(self, method: str, template: str, handler: Handler) -> None:
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        self.entries.append((method, re.compile(f"^{pattern}$"), handler))

    def match(self, method: str, path: str) -> tuple[Handler | None, dict[str, str], list[str]]:
        """The handler and path params, or ``None`` with the methods served at that path."""
        allowed: list[str] = []
        for entry_method, pattern, handler in self.entries:
            found = pattern.match(path)
            if found is None:
                continue
            if entry_method == method:
                return handler, found.groupdict(), []
            allowed.append(entry_method)
        return None, {}, allowed
