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


class Answer:
    """What the edge learns of the answer on its way out, without wrapping ``send`` (a
    coroutine layer per message): whoever sends ``http.response.start`` sets ``started`` and
    ``status`` first; ``headers`` go out with every answer (the request id)."""

    __slots__ = ("headers", "started", "status")

    def __init__(self, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.headers: list[tuple[bytes, bytes]] = headers if headers is not None else []
        self.started = False
        self.status = 500

    def start(self, status: int) -> None:
        self.started = True
        self.status = status


class RequestHead:
    """What the gateway reads from a request's headers, gathered in one pass
    (``read_request_head``): the edge, auth, the cache and the proxy each used to loop over the
    headers themselves, five passes per request."""

    __slots__ = (
        "accept_encoding",
        "authorization",
        "cache_control",
        "chunked",
        "connection",
        "first_length",
        "forwarded",
        "has_body",
        "host",
        "idempotency_key",
        "last_length",
        "request_id",
    )

    def __init__(self) -> None:
        self.forwarded: list[tuple[bytes, bytes]] = []  # end-to-end headers the service gets
        self.host = b""
        self.connection = False  # a Connection header was sent (its names are dropped too)
        self.request_id: bytes | None = None  # the last X-Request-ID
        self.first_length: bytes | None = None  # Content-Length as sent (first and last)
        self.last_length: bytes | None = None
        self.chunked = False  # Transfer-Encoding was sent
        self.has_body = False
        self.authorization: bytes | None = None  # the first of each
        self.accept_encoding = b""
        self.cache_control: bytes | None = None
        self.idempotency_key = False

    @property
    def length(self) -> int | None:
        """The declared body length (the first ``Content-Length``), None when absent or not a
        number."""
        if self.first_length is None:
            return None
        try:
            return int(self.first_length)
        except ValueError:
            return None


def read_request_head(scope: Scope) -> RequestHead:
    """One pass over the client's headers: the forwarded ones (internal, hop-by-hop and
    gateway-set names left out; the names a ``Connection`` header lists are taken out later by
    ``upstream_request_headers``) and the facts the edge, auth, cache and proxy need."""
    head = RequestHead()
    forwarded = head.forwarded
    for name, value in scope["headers"]:
        if name in _NOT_FORWARDED_OR_LENGTH:
            if name == b"content-length":
                if not head.has_body and not head.chunked:
                    head.has_body = value.strip() not in (b"", b"0")
                if head.first_length is None:
                    head.first_length = value
                head.last_length = value
            elif name == b"host":
                head.host = value
            elif name == b"x-request-id":
                head.request_id = value
            elif name == b"transfer-encoding":
                head.has_body = head.chunked = True
            elif name == b"connection":
                head.connection = True
            continue
        if name.startswith(_INTERNAL_PREFIXES):
            continue
        forwarded.append((name, value))
        if name in _READ_FORWARDED:
            if name == b"authorization":
                if head.authorization is None:
                    head.authorization = value
            elif name == b"accept-encoding":
                if not head.accept_encoding:
                    head.accept_encoding = value
            elif name == b"cache-control":
                if head.cache_control is None:
                    head.cache_control = value
            else:
                head.idempotency_key = True
    return head


_READ_FORWARDED = frozenset(
    {b"authorization", b"accept-encoding", b"cache-control", b"idempotency-key"}
)


def upstream_request_headers(
    scope: Scope, request_id: str, head: RequestHead | None = None
) -> list[tuple[bytes, bytes]]:
    """The headers sent to the service: the client's end-to-end headers, minus internal ones,
    plus ``X-Forwarded-*`` and the request id. ``Host`` and the body's framing
    (``Content-Length``) are written by the upstream client. ``head`` (its ``forwarded`` list is
    taken, not copied) is the request's one pass over its headers, read here when not given."""
    if head is None:
        head = read_request_head(scope)
    forwarded = head.forwarded
    if head.connection:
        listed = _connection_listed(scope["headers"])
        forwarded = [(name, value) for name, value in forwarded if name not in listed]
    client = scope.get("client")
    host = head.host
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
