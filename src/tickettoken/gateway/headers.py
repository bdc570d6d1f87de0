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


def upstream_request_headers(scope: Scope, request_id: str) -> list[tuple[str, str]]:
    """The headers sent to the service: the client's end-to-end headers, minus internal ones,
    plus ``X-Forwarded-*`` and the request id."""
    raw: list[tuple[bytes, bytes]] = scope["headers"]
    listed = _connection_listed(raw)
    host = ""
    forwarded: list[tuple[str, str]] = []
    for name, value in raw:
        if name == b"host":
            host = value.decode("latin-1")
            continue
        if name in HOP_BY_HOP or name in _SET_BY_GATEWAY or name in listed or is_internal(name):
            continue
        forwarded.append((name.decode("latin-1"), value.decode("latin-1")))
    client = scope.get("client")
    if not host:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server else ""
    forwarded.append(("X-Forwarded-For", client[0] if client else "unknown"))
    forwarded.append(("X-Forwarded-Proto", str(scope.get("scheme", "http"))))
    if host:
        forwarded.append(("X-Forwarded-Host", host))
    forwarded.append(("X-Request-ID", request_id))
    return forwarded


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
