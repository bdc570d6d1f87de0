"""The current request's id, visible to logging, error bodies and outbound HTTP calls."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# A client-supplied id is kept only if it is short and harmless in logs and headers.
_ACCEPTABLE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None) -> None:
    _request_id.set(value)


def accept_or_generate(candidate: str | None) -> str:
    if candidate and _ACCEPTABLE_ID.match(candidate):
        return candidate
    return uuid.uuid4().hex
