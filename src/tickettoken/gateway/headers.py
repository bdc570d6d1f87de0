"""Which headers cross the gateway, in each direction.

Hop-by-hop headers (RFC 9110 section 7.6.1, plus any the ``Connection`` header names) belong to
one connection and are dropped. Internal and tenant headers are the services' business: a
client may never choose them (AUDIT: the original forwarded every client header, so a client
could pick its own tenant). Forwarding headers are set by the gateway, never taken from the
client.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import Scope

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    }
)
_INTERNAL_NAMES = frozenset({b"x-user-id", b"x-venue-id", b"x-tenant-id"})
_INTERNAL_PREFIXES = (b"x-internal-", b"x-gateway-")
# Set by the gateway itself; a client's values are discarded.
_SET_BY_GATEWAY = frozenset(
    {
        b"host",
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-forwarded-port",
        b"x-real-ip",
        b"x-request-id",
    }
)
_NOT_FORWARDED = HOP_BY_HOP | _SET_BY_GATEWAY | _INTERNAL_NAMES
# The server in front of the client writes its own.
_RESPONSE_SET_BY_SERVER = frozenset({b"date", b"server"})


def _connection_listed(headers: Iterable[tuple[bytes, bytes]]) -> frozenset[bytes]:
    listed: set[bytes] = set()
    for name, value in headers:
        if name == b"connection":
            listed.update(token.strip().lower() for token in value.split(b","))
    return frozenset(listed)


def is_internal(name: bytes) -> bool:
    return name in _INTERNAL_NAMES or name.startswith(_INTERNAL_PREFIXES)


def upstream_request_headers(scope: Scope, request_id: str) -> list[tuple[bytes, bytes]]:
    """The headers sent to the service: the client's end-to-end headers, minus internal ones,
    plus ``X-Forwarded-*`` and the request id. ``Host`` and the body's framing
    (``Content-Length``) are written by the upstream client."""
    raw: list[tuple[bytes, bytes]] = scope["headers"]
    listed = _connection_listed(raw) if _has_connection(raw) else frozenset()
    host = b""
    forwarded: list[tuple[bytes, bytes]] = []
    for name, value in raw:
        if name == b"host":
            host = value
            continue
        if (
            name in _NOT_FORWARDED
            or name in listed
            or name.startswith(_INTERNAL_PREFIXES)
            or name == b"content-length"
        ):
            continue
        forwarded.append((name, value))
    client = scope.get("client")
    if not host:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}".encode("latin-1") if server else b""
    forwarded.append((b"x-forwarded-for", client[0].encode("latin-1") if client else b"unknown"))
    forwarded.append((b"x-forwarded-proto", str(scope.get("scheme", "http")).encode("latin-1")))
    if host:
        forwarded.append((b"x-forwarded-host", host))
    forwarded.append((b"x-request-id", request_id.encode("latin-1")))
    return forwarded


def _has_connection(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    return any(name == b"connection" for name, _ in headers)


def client_response_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The service's response headers without hop-by-hop ones (names lower-cased for ASGI)."""
    pairs = [(name.lower(), value) for name, value in raw]
    listed = _connection_listed(pairs)
    return [
        (name, value)
        for name, value in pairs
        if name not in HOP_BY_HOP and name not in listed and name not in _RESPONSE_SET_BY_SERVER
    ]


def request_has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding":
            return True
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
    return False
