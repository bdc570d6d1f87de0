"""Every provider API request the sandbox received (a test control behind the sandbox's key).

Tests need to know what the platform wrote at a provider ("a re-run with nothing changed makes no
write call"), which no provider API tells. The log records each request when it arrives (so a
test sees a call in flight) with the provider, method, path, kind (``write``, ``read`` or
``auth``: OAuth token traffic) and, once answered, the status. Read-only POSTs (Square's
``search`` and ``batch-retrieve``, QuickBooks' ``query``) count as reads.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tickettoken.sandbox.common import has_key, invalid_key_response, json_response

PREFIXES: tuple[tuple[str, str], ...] = (
    *(("/square/", "square"), ("/quickbooks/", "quickbooks"), ("/mailchimp/", "mailchimp")),
    *(("/mandrill/", "mandrill"), ("/v1/", "stripe"), ("/oauth/", "stripe")),
)
READ_ONLY_POSTS = ("search", "query", "batch-retrieve", "batch-retrieve-counts")
KEEP = 200_000  # requests kept (oldest dropped first)


def provider_of(path: str) -> str | None:
    if "/_sandbox/" in path:
        return None  # test controls are not provider traffic
    for prefix, provider in PREFIXES:
        if path.startswith(prefix):
            return provider
    return None


def kind_of(method: str, path: str) -> str:
    if "oauth" in path or "/tokens/" in path:
        return "auth"
    if method in ("GET", "HEAD", "OPTIONS"):
        return "read"
    if method == "POST" and path.rstrip("/").rsplit("/", 1)[-1] in READ_ONLY_POSTS:
        return "read"
    return "write"


@dataclass
class RequestLog:
    secret_key: str
    entries: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=KEEP))
    next_seq: int = 0

    def record(self, provider: str, method: str, path: str) -> dict[str, Any]:
        entry = {
            "seq": self.next_seq,
            "provider": provider,
            "method": method,
            "path": path,
            "kind": kind_of(method, path),
            "status": None,
        }
        self.next_seq += 1
        self.entries.append(entry)
        return entry

    def routes(self) -> list[Route]:
        return [Route("/_sandbox/requests", self.list_requests, methods=["GET"])]

    async def list_requests(self, request: Request) -> Response:
        """``?provider=&kind=&after=<seq>&limit=``: how many requests after ``after`` match
        (``count``), the first ``limit`` of them, and ``next`` (the ``after`` that returns only
        later requests)."""
        if not has_key(request, self.secret_key):
            return invalid_key_response()
        query = request.query_params
        after = int(query.get("after", -1))
        found = [
            entry
            for entry in self.entries
            if entry["seq"] > after
            and query.get("provider", entry["provider"]) == entry["provider"]
            and query.get("kind", entry["kind"]) == entry["kind"]
        ]
        limit = int(query.get("limit", len(found)))
        return json_response(
            {"next": self.next_seq - 1, "count": len(found), "requests": found[:limit]}
        )


class RequestLogMiddleware:
    """Records each provider request on arrival and its status once answered."""

    def __init__(self, app: ASGIApp, log: RequestLog) -> None:
        self.app, self.log = app, log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        provider = provider_of(scope["path"]) if scope["type"] == "http" else None
        if provider is None:
            await self.app(scope, receive, send)
            return
        entry = self.log.record(provider, scope["method"], scope["path"])

        async def answered(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            await send(message)

        await self.app(scope, receive, answered)
