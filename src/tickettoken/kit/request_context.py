"""The current request's context: its id (logging, error bodies, outbound HTTP calls), the
client address (set by ``RequestIdMiddleware``) and the verified caller (set by
``auth.current_principal``).

Context variables rather than ``fastapi.Request`` arguments, so services and the audit trail read
who and from where without depending on the web framework; a background task (no request) sees
``None`` for all three.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_client_address: ContextVar[str | None] = ContextVar("client_address", default=None)
_actor: ContextVar[tuple[str, str] | None] = ContextVar("actor", default=None)

# A client-supplied id is kept only if it is short and harmless in logs and headers.
_ACCEPTABLE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None) -> None:
    _request_id.set(value)


def current_client_address() -> str | None:
    """The client's IP address as the server saw it (None outside a request, or when the
    transport reports no address, like the in-process test transport)."""
    return _client_address.get()


def set_client_address(host: str | None) -> None:
    """Keep ``host`` if it is an IP address (the audit stores it as ``inet``), else None."""
    if host is not None:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            host = None
    _client_address.set(host)


def current_actor() -> tuple[str, str] | None:
    """(subject, role) of the request's verified caller, None before authentication."""
    return _actor.get()


def set_actor(actor: tuple[str, str] | None) -> None:
    _actor.set(actor)


def accept_or_generate(candidate: str | None) -> str:
    if candidate and _ACCEPTABLE_ID.match(candidate):
        return candidate
    return uuid.uuid4().hex
