"""ASGI middleware for request ids, HTTP metrics and the request body limit.

Written as plain ASGI rather than ``BaseHTTPMiddleware``: it sits on every request of every
service, and the plain form avoids the extra task and body buffering of the base class.
"""

from __future__ import annotations

import time

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tickettoken.kit.errors import database_unavailable_response, error_response
from tickettoken.kit.faults import database_unreachable
from tickettoken.kit.metrics import HTTP_DURATION, HTTP_REQUESTS, in_flight_counter
from tickettoken.kit.request_context import (
    REQUEST_ID_HEADER,
    accept_or_generate,
    set_actor,
    set_client_address,
    set_request_id,
)

_HEADER_BYTES = REQUEST_ID_HEADER.lower().encode()
log = structlog.get_logger(__name__)


class StartTrackingSend:
    """An ASGI ``send`` that remembers whether the response has started.

    Once the status line and headers are out, an error can no longer be answered with an error
    response; the middleware that catches it must re-raise instead.
    """

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self.send(message)


class RequestIdMiddleware:
    """Accept a sane ``X-Request-ID`` or generate one, expose it to logs, return it; keep the
    client address in the request context (``kit.request_context``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == _HEADER_BYTES:
                incoming = value.decode("latin-1")
                break
        request_id = accept_or_generate(incoming)
        set_request_id(request_id)
        client = scope.get("client")
        set_client_address(client[0] if client else None)
        set_actor(None)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != _HEADER_BYTES]
                headers.append((_HEADER_BYTES, request_id.encode()))
                message["headers"] = headers
            await send(message)

        tracking = StartTrackingSend(send_with_id)
        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            # Answer unexpected errors here, inside the request-id scope, so the 500 carries the
            # id in header and body like every other error. Nothing internal reaches the client.
            # A database that went away is not a bug: 503 and one log line (``kit.faults``).
            if not tracking.started and database_unreachable(exc):
                response = database_unavailable_response(str(scope.get("path")), exc)
                await response(scope, receive, send_with_id)
                return
            log.exception("unhandled_error", path=scope.get("path"))
            if tracking.started:
                raise
            response = error_response(500, "Internal server error", "INTERNAL_ERROR")
            await response(scope, receive, send_with_id)
        finally:
            set_request_id(None)
            set_client_address(None)
            set_actor(None)


class MetricsMiddleware:
    """Count and time requests by route template (not raw path, to keep label sets small)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    @staticmethod
    def _route_of(scope: Scope) -> str:
        # FastAPI records the matched route in the scope; matching again here would cost a
        # second pass over the route table on every request.
        route = scope.get("route")
        return str(getattr(route, "path", "unmatched"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()
        in_flight = in_flight_counter(self.service)
        in_flight[0] += 1

        async def send_tracking(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        finally:
            in_flight[0] -= 1
            route = self._route_of(scope)
            method = scope["method"]
            HTTP_REQUESTS.labels(self.service, method, route, str(status)).inc()
            HTTP_DURATION.labels(self.service, method, route).observe(time.perf_counter() - start)


class RequestBodyTooLarge(HTTPException):
    """Raised from ``receive`` once a streamed body passes the limit; FastAPI passes HTTP
    exceptions through its body parsing, so the error handlers answer it as the envelope."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body too large (at most {limit} bytes)")


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, without reading them whole.

    A declared ``Content-Length`` over the limit is answered at once, before the application
    runs; a declared length within it passes untouched (the server delivers no more than it
    declares), so ordinary requests pay one scan of the headers. Only a body without a length
    (``Transfer-Encoding: chunked``) is counted as it is received, and the read that crosses the
    limit raises ``RequestBodyTooLarge``. Starlette's own ``RequestBodyLimitMiddleware`` wraps
    every request's ``receive`` and ``send`` and answers plain text when the application never
    reads the body; this one keeps the envelope and the request id on every refusal.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: bytes | None = None
        streamed = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                streamed = True
        if declared is not None and not streamed:
            length = int(declared) if declared.isdigit() else None
            if length is not None and length <= self.max_bytes:
                await self.app(scope, receive, send)
                return
            if length is not None:
                await self._refuse(scope, receive, send)
                return
        elif not streamed:
            await self.app(scope, receive, send)  # no body at all
            return
        await self.app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Receive:
        limit = self.max_bytes
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise RequestBodyTooLarge(limit)
            return message

        return receive_within_limit

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"Request body too large (at most {self.max_bytes} bytes)"
        response = error_response(
            413, message, "PAYLOAD_TOO_LARGE", headers={"Connection": "close"}
        )
        await response(scope, receive, send)
