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
_NOT_FORWARDED_OR_LENGTH = _NOT_FORWARDED | {b"content-length"}
# The server in front of the client writes its own; the edge sets the request id.
_RESPONSE_SET_BY_SERVER = frozenset({b"date", b"server"})
_RESPONSE_DROPPED = HOP_BY_HOP | _RESPONSE_SET_BY_SERVER | {b"x-request-id"}


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
    (``Content-Length``) are written by the upstream client. One pass over the client's headers;
    the names a ``Connection`` header lists (rare) are taken out afterwards."""
    raw: list[tuple[bytes, bytes]] = scope["headers"]
    host = b""
    connection = False
    forwarded: list[tuple[bytes, bytes]] = []
    for name, value in raw:
        if name in _NOT_FORWARDED_OR_LENGTH:
            if name == b"host":
                host = value
            elif name == b"connection":
                connection = True
            continue
        if name.startswith(_INTERNAL_PREFIXES):
            continue
        forwarded.append((name, value))
    if connection:
        listed = _connection_listed(raw)
        forwarded = [(name, value) for name, value in forwarded if name not in listed]
    client = scope.get("client")
    if not host:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}".encode("latin-1") if server else b""
    forwarded.append((b"x-forwarded-for", client[0].encode("latin-1") if client else b"unknown"))
    scheme = scope.get("scheme", "http")
    forwarded.append((b"x-forwarded-proto", _SCHEMES.get(scheme) or str(scheme).encode("latin-1")))
    if host:
        forwarded.append((b"x-forwarded-host", host))
    forwarded.append((b"x-request-id", request_id.encode("latin-1")))
    return forwarded


_SCHEMES = {"http": b"http", "https": b"https"}


def client_response_headers(
    raw: Iterable[tuple[bytes, bytes]], extra: Iterable[tuple[bytes, bytes]] = ()
) -> list[tuple[bytes, bytes]]:
    """The service's response headers without hop-by-hop ones (names lower-cased for ASGI) and
    without its ``X-Request-ID`` (the gateway's edge sets the one the client sees), then
    ``extra`` (the gateway's own: rate-limit and cache headers)."""
    kept: list[tuple[bytes, bytes]] = []
    connection = False
    for name, value in raw:
        name = name.lower()
        if name in _RESPONSE_DROPPED:
            if name == b"connection":
                connection = True
            continue
        kept.append((name, value))
    if connection:
        listed = _connection_listed((name.lower(), value) for name, value in raw)
        kept = [(name, value) for name, value in kept if name not in listed]
    kept.extend(extra)
    return kept


def request_has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding":
            return True
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
    return False
