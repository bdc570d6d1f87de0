"""The proxy hot path: plain ASGI in, a pooled aiohttp session out, bodies streamed as bytes.

Nothing here parses a body (AUDIT: re-serialising a webhook body broke its signature). The
client is aiohttp's ``ClientSession``: measured as a proxy client on this machine it carried about
ten times the requests/s of ``httpx.AsyncClient`` (``bench/gateway_clients.py``,
``docs/decisions/gateway.md``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import structlog
from multidict import CIMultiDict
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send
from yarl import URL

from tickettoken.gateway.edge_auth import EdgeAuth
from tickettoken.gateway.headers import (
    client_response_headers,
    request_has_body,
    upstream_request_headers,
)
from tickettoken.gateway.routes import RouteMatch, is_public, match_route, timeout_for
from tickettoken.kit.errors import AppError, GatewayTimeout, NotFound, ServiceUnavailable
from tickettoken.kit.request_context import accept_or_generate, current_request_id

log = structlog.get_logger(__name__)


class BadGateway(AppError):
    status_code, code, default_message = 502, "BAD_GATEWAY", "Upstream service failed"


class ClientDisconnected(Exception):
    """The client went away while its request body was being read."""


def create_session() -> aiohttp.ClientSession:
    """One pooled session per gateway process. No automatic headers, no decompression, no
    cookies: what the client sent is what the service gets, and back."""
    connector = aiohttp.TCPConnector(
        limit=1024, limit_per_host=0, keepalive_timeout=30, ttl_dns_cache=60
    )
    return aiohttp.ClientSession(
        connector=connector,
        auto_decompress=False,
        skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=None),
    )


async def _client_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


class Proxy:
    """Forwards one request to one instance of its service and streams the answer back."""

    def __init__(self, instances: dict[str, tuple[str, ...]]) -> None:
        self.instances = instances
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = create_session()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise ServiceUnavailable("The gateway is starting")
        return self._session

    async def handle(self, scope: Scope, receive: Receive, send: Send, route: RouteMatch) -> None:
        urls = self.instances.get(route.service)
        if not urls:
            raise ServiceUnavailable(
                f"The {route.service} service is not configured "
                f"(set {route.service.upper()}_SERVICE_URL)"
            )
        request_id = current_request_id() or accept_or_generate(None)
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        target = urls[0] + path.decode("latin-1")
        if query:
            target += "?" + query.decode("latin-1")
        headers = CIMultiDict(upstream_request_headers(scope, request_id))
        data = _client_body(receive) if request_has_body(scope) else None
        budget = timeout_for(route.service, scope["path"])
        started = False
        try:
            async with asyncio.timeout(budget):
                async with self.session.request(
                    scope["method"],
                    URL(target, encoded=True),
                    headers=headers,
                    data=data,
                    allow_redirects=False,
                    compress=None,
                ) as response:
                    await send(
                        {
                            "type": "http.response.start",
                            "status": response.status,
                            "headers": client_response_headers(response.raw_headers),
                        }
                    )
                    started = True
                    async for chunk in response.content.iter_any():
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    await send({"type": "http.response.body", "body": b""})
        except TimeoutError as exc:
            if started:
                raise
            raise GatewayTimeout(f"The {route.service} service did not answer in time") from exc
        except (aiohttp.ClientError, OSError) as exc:
            if started:
                raise
            log.warning("upstream_failed", service=route.service, error=type(exc).__name__)
            raise BadGateway(f"The {route.service} service could not be reached") from exc


class _RouteLabel:
    """What the metrics middleware reads as the route of a proxied request."""

    def __init__(self, path: str) -> None:
        self.path = path


class ProxyRoute(BaseRoute):
    """Matches every /api/v1 path the app's own routes did not take; added last. The caller is
    authenticated here, before anything reaches a service, except on the public routes."""

    def __init__(self, proxy: Proxy, edge_auth: EdgeAuth) -> None:
        self.proxy = proxy
        self.edge_auth = edge_auth
        self._labels: dict[str, _RouteLabel] = {}

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and scope["path"].startswith("/api/v1/"):
            return Match.FULL, {}
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = match_route(scope["path"])
        if route is None:
            raise NotFound("Route not found")
        label = self._labels.get(route.prefix)
        if label is None:
            label = self._labels[route.prefix] = _RouteLabel(f"/api/v1/{route.prefix}/*")
        scope["route"] = label
        if not is_public(scope["method"], scope["path"]):
            await self.edge_auth.authenticate(scope)
        await self.proxy.handle(scope, receive, send, route)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NotImplementedError("the proxy route has no name")
