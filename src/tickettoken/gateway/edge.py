"""The proxied paths' one outer layer: request id, metrics, body limit and the error envelope.

The kit's three middlewares do the same for every service, one layer (and one ``send`` wrapper)
each. On the gateway's proxy path they were a measurable part of the CPU time per request
(``docs/decisions/gateway.md``), so here they are one layer with the metric series resolved once
per route and counted in batches (``kit.metric_batch``), request ids from a per-process random
prefix and a counter (as unique as a uuid4 hex, without the system call), and the error answers
of the kit (``error_response``, the 413 of ``BodyLimitMiddleware``, the 500 of
``RequestIdMiddleware``).
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tickettoken.gateway.headers import Answer, read_request_head
from tickettoken.kit.errors import AppError, error_response
from tickettoken.kit.metric_batch import BatchedCounter, BatchedHistogram
from tickettoken.kit.metrics import HTTP_DURATION, HTTP_REQUESTS, in_flight_counter
from tickettoken.kit.middleware import RequestBodyTooLarge
from tickettoken.kit.request_context import accept_or_generate, set_request_id

log = structlog.get_logger(__name__)

_REQUEST_ID = b"x-request-id"
# 64 random bits (the top one set, so every id has 32 hex digits) above a 64-bit counter
_BASE = (int.from_bytes(os.urandom(8), "big") | 1 << 63) << 64
_COUNTER = itertools.count(1)


def new_request_id() -> str:
    return hex(_BASE + next(_COUNTER))[2:]


class _Series:
    """The metric children of one (method, route), resolved once."""

    def __init__(self, service: str, method: str, route: str) -> None:
        self.duration = BatchedHistogram(HTTP_DURATION.labels(service, method, route))
        self.requests: dict[int, BatchedCounter] = {}
        self.labels = (service, method, route)

    def count(self, status: int) -> None:
        counter = self.requests.get(status)
        if counter is None:
            counter = self.requests[status] = BatchedCounter(
                HTTP_REQUESTS.labels(*self.labels, str(status))
            )
        counter.inc()


class ProxyEdge:
    """Wraps the proxy route (``ProxyRoute.handle``) for every proxied request."""

    def __init__(
        self, route: Any, max_body_bytes: int, *, service: str = "gateway", metrics: bool = True
    ) -> None:
        self.route = route
        self.max_body_bytes = max_body_bytes
        self.service = service
        self.metrics = metrics
        self.in_flight = in_flight_counter(service)
        self._series: dict[tuple[str, str], _Series] = {}

    def _series_of(self, method: str, route: str) -> _Series:
        series = self._series.get((method, route))
        if series is None:
            series = self._series[(method, route)] = _Series(self.service, method, route)
        return series

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        head = read_request_head(scope)
        incoming = head.request_id
        request_id = (
            accept_or_generate(incoming.decode("latin-1")) if incoming else new_request_id()
        )
        set_request_id(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        # the request id goes out with every answer; the relay and the cache set the status
        answer = Answer([(_REQUEST_ID, request_id.encode())])
        start = time.perf_counter()
        in_flight = self.in_flight
        if self.metrics:
            in_flight[0] += 1
        try:
            declared, streamed = head.last_length, head.chunked
            if streamed or declared is not None:
                length = int(declared) if declared is not None and declared.isdigit() else None
                if not streamed and length is not None and length > self.max_body_bytes:
                    message = f"Request body too large (at most {self.max_body_bytes} bytes)"
                    await self._error(
                        error_response(
                            413, message, "PAYLOAD_TOO_LARGE", headers={"Connection": "close"}
                        ),
                        scope,
                        receive,
                        send,
                        answer,
                    )
                    return
                if streamed or length is None:
                    receive = self._counting(receive)
            await self.route.handle(scope, receive, send, answer, head)
        except AppError as exc:
            if answer.started:
                raise
            if exc.status_code >= 500:
                log.warning("gateway_error", code=exc.code, error=exc.message)
            await self._error(
                error_response(exc.status_code, exc.message, exc.code, exc.details, exc.headers),
                scope,
                receive,
                send,
                answer,
            )
        except RequestBodyTooLarge as exc:
            if answer.started:
                raise
            await self._error(
                error_response(413, str(exc.detail), "PAYLOAD_TOO_LARGE"),
                scope,
                receive,
                send,
                answer,
            )
        except Exception:
            log.exception("unhandled_error", path=scope.get("path"))
            if answer.started:
                raise
            await self._error(
                error_response(500, "Internal server error", "INTERNAL_ERROR"),
                scope,
                receive,
                send,
                answer,
            )
        finally:
            set_request_id(None)
            if self.metrics:
                in_flight[0] -= 1
                route = getattr(scope.get("route"), "path", "unmatched")
                series = self._series_of(scope["method"], route)
                series.count(answer.status)
                series.duration.observe(time.perf_counter() - start)

    @staticmethod
    async def _error(
        response: ASGIApp, scope: Scope, receive: Receive, send: Send, answer: Answer
    ) -> None:
        """An error answer of the edge, with the request id and its status noted."""

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer.start(message["status"])
                message["headers"] = [*message.get("headers", ()), *answer.headers]
            await send(message)

        await response(scope, receive, send_with_id)

    def _counting(self, receive: Receive) -> Receive:
        limit = self.max_body_bytes
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
