"""A shared response cache for the public catalogue GETs (event lists and event pages).

What may be stored follows HTTP's rules for shared caches (RFC 9111): only 200 answers to GETs of
the catalogue routes; never with ``no-store`` or ``private``; an answer to a request that carried
credentials only when the service marked it ``public`` or gave ``s-maxage`` (so one caller's
answer, drafts they may see, never reaches another); never with a ``Vary`` other than
``Accept-Encoding``. The lifetime is ``s-maxage``, else ``max-age``, else the route's default
(anonymous answers only). A request with ``Cache-Control: no-cache`` skips the lookup.

Entries live in the key-value store (Redis shared by every gateway, process memory without it)
under the current generation of the catalogue; a write to events or venues through any gateway
bumps the generation, so every gateway stops serving what was stored before (older entries just
expire). A GET that was in flight during the write stores under the old generation, never read.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass

import structlog
from starlette.types import Message, Scope, Send

from tickettoken.gateway.headers import Answer, RequestHead
from tickettoken.gateway.metrics import CACHE_LOOKUPS
from tickettoken.kit.kv import KeyValueStore, KeyValueUnavailable
from tickettoken.kit.metric_batch import BatchedCounter

log = structlog.get_logger(__name__)

_CACHEABLE = (
    (re.compile(r"^/api/v1/events/?$"), 30.0),
    (re.compile(r"^/api/v1/venues/[^/]+/events/?$"), 30.0),
    (re.compile(r"^/api/v1/events/[^/]+/?$"), 60.0),
)
_INVALIDATING = re.compile(r"^/api/v1/(events|venues)(/|$)")
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_ENTRY_BYTES = 1024 * 1024
CACHE_PREFIX = "gw:cache:"
_KEPT_ON_HIT = frozenset({b"content-type", b"content-encoding", b"content-length", b"etag"})
MISS_HEADER = (b"x-cache", b"MISS")
# The lookup counters, resolved once and counted in batches (on every cacheable request).
_LOOKUPS = {
    outcome: BatchedCounter(CACHE_LOOKUPS.labels(outcome))
    for outcome in ("hit", "miss", "bypass", "error")
}


def _directives(value: bytes | None) -> dict[str, str]:
    found: dict[str, str] = {}
    if not value:
        return found
    for part in value.decode("latin-1").lower().split(","):
        name, _, arg = part.strip().partition("=")
        if name:
            found[name] = arg.strip('"')
    return found


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


def default_ttl(method: str, path: str) -> float | None:
    """The default lifetime of the answers to a method and path, None when never cached."""
    return _default_ttl(path) if method == "GET" else None


def _default_ttl(path: str) -> float | None:
    for pattern, ttl in _CACHEABLE:
        if pattern.match(path):
            return ttl
    return None


MAX_RAW_KEY = 256  # longer request keys are hashed


def _entry_key(path: str, query: bytes, accept_encoding: bytes) -> str:
    """The part of an entry's key that names the request: path, query and
    ``Accept-Encoding`` as they are when short (a SHA-256 per request measured about a twentieth
    of the gateway's own time on a cacheable route), else their SHA-256; the two forms cannot
    meet (``r:`` and ``h:``)."""
    if len(path) + len(query) + len(accept_encoding) <= MAX_RAW_KEY:
        return f"r:{path}\0{query.decode('latin-1')}\0{accept_encoding.decode('latin-1')}"
    digest = hashlib.sha256(b"\0".join([path.encode(), query, accept_encoding])).hexdigest()
    return f"h:{digest}"


@dataclass
class CacheTicket:
    """A cacheable request in flight: where its answer would be stored."""

    key: str
    default_ttl: float
    with_credentials: bool


class ResponseCache:
    def __init__(self, store: KeyValueStore | None = None, *, prefix: str = CACHE_PREFIX) -> None:
        self.store = store
        self.prefix = prefix
        self._generation_key = f"{prefix}gen:catalogue"

    def ticket(self, scope: Scope) -> CacheTicket | None:
        if scope["method"] != "GET" or self.store is None:
            return None
        path = scope["path"]
        ttl = _default_ttl(path)
        if ttl is None:
            return None
        accept_encoding = b""
        has_credentials = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                has_credentials = True
            elif name == b"accept-encoding" and not accept_encoding:
                accept_encoding = value
        return CacheTicket(
            _entry_key(path, scope.get("query_string", b""), accept_encoding), ttl, has_credentials
        )

    def ticket_of(self, scope: Scope, ttl: float | None, head: RequestHead) -> CacheTicket | None:
        """``ticket`` with the route's default lifetime (``default_ttl``, worked out once per
        path) and the request's headers (``headers.read_request_head``) already read."""
        if ttl is None or self.store is None:
            return None
        return CacheTicket(
            _entry_key(scope["path"], scope.get("query_string", b""), head.accept_encoding),
            ttl,
            head.authorization is not None,
        )

    async def serve(
        self,
        scope: Scope,
        ticket: CacheTicket,
        send: Send,
        extra_headers: list[tuple[bytes, bytes]] | None = None,
        head: RequestHead | None = None,
        answer: Answer | None = None,
    ) -> bool:
        """Answer from the cache (with ``extra_headers`` added); False on a miss (the ticket then
        knows where to store). ``head``: the request's headers already read; ``answer`` learns
        the status when the cache answers."""
        store = self.store
        assert store is not None
        try:
            generation = await store.get(self._generation_key)
            ticket.key = f"{self.prefix}{generation.decode() if generation else '0'}:{ticket.key}"
            control = (
                head.cache_control
                if head is not None
                else _header(scope["headers"], b"cache-control")
            )
            if control and "no-cache" in _directives(control):
                _LOOKUPS["bypass"].inc()
                return False
            entry = await store.get(ticket.key)
        except KeyValueUnavailable as exc:
            log.warning("cache_unavailable", error=str(exc))
            _LOOKUPS["error"].inc()
            ticket.key = ""
            return False
        if entry is None:
            _LOOKUPS["miss"].inc()
            return False
        stored_head, _, body = entry.partition(b"\n")
        meta = json.loads(stored_head)
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in meta["headers"]]
        age = max(0, int(time.time() - meta["stored_at"]))
        headers += [(b"age", str(age).encode()), (b"x-cache", b"HIT"), *(extra_headers or ())]
        if answer is not None:
            answer.start(meta["status"])
        await send({"type": "http.response.start", "status": meta["status"], "headers": headers})
        await send({"type": "http.response.body", "body": body})
        _LOOKUPS["hit"].inc()
        return True

    async def store_if_allowed(self, ticket: CacheTicket, sent: list[Message]) -> None:
        """Store the answer whose messages were recorded (``Proxy.handle``'s ``record``) when
        HTTP's shared-cache rules allow it."""
        ttl = self.lifetime_of(ticket, sent)
        if ttl > 0:
            await self.store_answer(ticket, sent, ttl)

    def lifetime_of(self, ticket: CacheTicket, sent: list[Message]) -> float:
        """How long the recorded answer may be stored (0: not at all), without an await: most
        answers (errors, private or credentialed ones) are never stored."""
        if not ticket.key or not sent or sent[0]["type"] != "http.response.start":
            return 0
        start = sent[0]
        return self._lifetime(ticket, start["status"], start.get("headers", []))

    async def store_answer(self, ticket: CacheTicket, sent: list[Message], ttl: float) -> None:
        """Store the recorded answer for ``ttl`` seconds (``lifetime_of``)."""
        start = sent[0]
        headers: list[tuple[bytes, bytes]] = start.get("headers", [])
        body = b"".join(m.get("body", b"") for m in sent[1:])
        if len(body) > MAX_ENTRY_BYTES:
            return
        meta = {
            "status": start["status"],
            "stored_at": time.time(),
            "headers": [
                [k.decode("latin-1"), v.decode("latin-1")]
                for k, v in headers
                if k in _KEPT_ON_HIT or k == b"cache-control"
            ],
        }
        assert self.store is not None
        try:
            await self.store.set(ticket.key, json.dumps(meta).encode() + b"\n" + body, ttl)
        except KeyValueUnavailable as exc:
            log.warning("cache_unavailable", error=str(exc))

    @staticmethod
    def _lifetime(ticket: CacheTicket, status: int, headers: list[tuple[bytes, bytes]]) -> float:
        if status != 200:
            return 0
        vary = control = None
        for name, value in headers:
            if name == b"vary" and vary is None:
                vary = value
            elif name == b"cache-control" and control is None:
                control = value
        if control is None and ticket.with_credentials:
            return 0  # a credentialed answer needs public or s-maxage

        if vary and {v.strip().lower() for v in vary.split(b",")} - {b"accept-encoding"}:
            return 0
        directives = _directives(control)
        if "no-store" in directives or "private" in directives or "no-cache" in directives:
            return 0
        if ticket.with_credentials and not ("public" in directives or "s-maxage" in directives):
            return 0
        for directive in ("s-maxage", "max-age"):
            if directive in directives:
                try:
                    return float(directives[directive])
                except ValueError:
                    return 0
        return 0 if ticket.with_credentials else ticket.default_ttl

    @staticmethod
    def invalidated_by(scope: Scope) -> bool:
        return scope["method"] in _WRITES and bool(_INVALIDATING.match(scope["path"]))

    async def invalidate(self) -> None:
        if self.store is None:
            return
        try:
            await self.store.incr(self._generation_key)
        except KeyValueUnavailable as exc:
            log.warning("cache_invalidation_failed", error=str(exc))
