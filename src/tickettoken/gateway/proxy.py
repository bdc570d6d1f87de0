"""The proxy hot path: plain ASGI in, the gateway's pooled upstream client out, bodies as bytes.

Nothing here parses a body (AUDIT: re-serialising a webhook body broke its signature). The
client is ``upstream_client.UpstreamClient`` (httptools on the event loop): measured as a proxy
client on this machine it used about a third of aiohttp's CPU per request, and pyreqwest lost its
bare-client lead inside the gateway to GIL hand-offs with its runtime thread
(``bench/gateway_clients.py``, ``docs/decisions/gateway.md``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tickettoken.gateway.balancing import Balancer, Strategy
from tickettoken.gateway.cache import MISS_HEADER, ResponseCache
from tickettoken.gateway.discovery import InstancePool
from tickettoken.gateway.edge_auth import EdgeAuth
from tickettoken.gateway.headers import client_response_headers, upstream_request_headers
from tickettoken.gateway.metrics import (
    BREAKER_REJECTIONS,
    RETRIES,
    RETRIES_REFUSED,
    UPSTREAM_DURATION,
    UPSTREAM_REQUESTS,
)
from tickettoken.gateway.ratelimit import RateLimiter
from tickettoken.gateway.resilience.breaker import BreakerBoard, BreakerOpen, CircuitBreaker
from tickettoken.gateway.resilience.deadlines import DeadlineWatch
from tickettoken.gateway.resilience.retry import (
    IDEMPOTENT_METHODS,
    MAX_ATTEMPTS,
    RETRYABLE_STATUSES,
    RetryBudget,
    backoff_seconds,
)
from tickettoken.gateway.resilience.timeouts import RouteTimeouts
from tickettoken.gateway.routes import RouteMatch, is_public, match_route
from tickettoken.gateway.upstream_client import (
    UpstreamClient,
    UpstreamConnectError,
    UpstreamError,
    UpstreamResponse,
)
from tickettoken.kit.errors import (
    AppError,
    GatewayTimeout,
    NotFound,
    ServiceUnavailable,
    error_response,
)
from tickettoken.kit.metric_batch import BatchedCounter, BatchedHistogram
from tickettoken.kit.middleware import StartTrackingSend
from tickettoken.kit.request_context import accept_or_generate, current_request_id

log = structlog.get_logger(__name__)


class BadGateway(AppError):
    status_code, code, default_message = 502, "BAD_GATEWAY", "Upstream service failed"


MAX_REPLAYABLE_BODY = 1024 * 1024  # larger bodies stream through once, without retries


class ClientDisconnected(Exception):
    """The client went away while its request body was being read."""


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


class _UpstreamSeries:
    """The metric children of one service and answer class, resolved once, counted in batches."""

    def __init__(self, service: str, outcome: str) -> None:
        self.duration = BatchedHistogram(UPSTREAM_DURATION.labels(service))
        self.requests = BatchedCounter(UPSTREAM_REQUESTS.labels(service, outcome))

    def observe(self, seconds: float) -> None:
        self.duration.observe(seconds)
        self.requests.inc()


class Proxy:
    """Forwards a request to an instance of its service, within the route's time budget, with
    retries where they are safe, and streams the answer back."""

    def __init__(
        self,
        pool: InstancePool,
        breakers: BreakerBoard,
        timeouts: RouteTimeouts,
        strategies: dict[str, Strategy] | None = None,
    ) -> None:
        self.timeouts = timeouts
        self.pool = pool
        self.breakers = breakers
        self.strategies = strategies or {}
        self.budgets: dict[str, RetryBudget] = {}
        self.balancers: dict[str, Balancer] = {}
        self._client: UpstreamClient | None = None
        self._metrics: dict[tuple[str, int], _UpstreamSeries] = {}
        self._timeouts: dict[tuple[str, str], float] = {}
        self.deadlines = DeadlineWatch()

    async def start(self) -> None:
        self._client = UpstreamClient()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    @property
    def client(self) -> UpstreamClient:
        if self._client is None:
            raise ServiceUnavailable("The gateway is starting")
        return self._client

    def balancer(self, service: str) -> Balancer:
        balancer = self.balancers.get(service)
        if balancer is None:
            strategy = self.strategies.get(service, Strategy.ROUND_ROBIN)
            balancer = self.balancers[service] = Balancer(strategy)
        return balancer

    def budget(self, service: str) -> RetryBudget:
        budget = self.budgets.get(service)
        if budget is None:
            budget = self.budgets[service] = RetryBudget()
        return budget

    async def handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: RouteMatch,
        session_key: str | None = None,
        extra_headers: list[tuple[bytes, bytes]] | None = None,
        record: list[Message] | None = None,
    ) -> None:
        """Proxy one request. ``extra_headers`` are added to the answer's headers (the edge's
        rate-limit and cache headers); ``record``, when given, receives the messages sent (the
        response cache stores from them)."""
        service = route.service
        if not self.pool.instances(service):
            raise ServiceUnavailable(
                f"The {service} service is not configured (set {service.upper()}_SERVICE_URL)"
            )
        breaker = self.breakers.get(service)
        try:
            probe = breaker.admit()
        except BreakerOpen:
            BREAKER_REJECTIONS.labels(service).inc()
            raise
        try:
            await self._forward(
                scope, receive, send, service, breaker, probe, session_key, extra_headers, record
            )
        finally:
            if probe:
                breaker.abandon_probe()

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        service: str,
        breaker: CircuitBreaker,
        probe: bool,
        session_key: str | None,
        extra_headers: list[tuple[bytes, bytes]] | None = None,
        record: list[Message] | None = None,
    ) -> None:
        request_id = current_request_id() or accept_or_generate(None)
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        query = scope.get("query_string", b"")
        if query:
            path += "?" + query.decode("latin-1")
        length: int | None = None
        headers = upstream_request_headers(scope, request_id)
        has_body, length, idempotency_key = _request_facts(scope)
        retry_safe = (scope["method"] in IDEMPOTENT_METHODS or idempotency_key) and not probe
        body: bytes | AsyncIterator[bytes] | None = None
        if has_body:
            # A small body of known length is read first, so it can be sent again to another
            # instance; a large or chunked one streams through once.
            if length is not None and length <= MAX_REPLAYABLE_BODY:
                body = b"".join([chunk async for chunk in _client_body(receive)])
            else:
                body = _client_body(receive)
                retry_safe = False
        budget = self.budget(service)
        budget.note_request()
        balancer = self.balancer(service)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout(service, scope["path"])
        tried: tuple[str, ...] = ()
        started = False
        try:
            async with self.deadlines.until(loop, deadline):
                while True:
                    candidates = self.pool.candidates(service, exclude=tried)
                    url = balancer.pick(candidates, session_key, self.pool.instances(service))
                    tried += (url,)
                    outcome = await self._attempt(scope, path, headers, body, length, service, url)
                    if isinstance(outcome, UpstreamResponse):
                        response = outcome
                        failed = response.status >= 500
                        if failed:
                            self.pool.eject(url)
                        if (
                            response.status in RETRYABLE_STATUSES
                            and retry_safe
                            and await self._may_try_again(service, len(tried), deadline, "status")
                        ):
                            breaker.record(False, probe=probe)
                            await response.release()
                            continue
                        breaker.record(not failed, probe=probe)
                        started = True
                        await self._relay(
                            response, send, scope["method"] == "HEAD", extra_headers, record
                        )
                        return
                    # no answer: nothing reached the service when the connection was refused,
                    # so even a POST may go to another instance
                    breaker.record(False, probe=probe)
                    self.pool.eject(url)
                    refused = isinstance(outcome, UpstreamConnectError) and not probe
                    if (retry_safe or (refused and not isinstance(body, AsyncIterator))) and (
                        await self._may_try_again(service, len(tried), deadline, "no_answer")
                    ):
                        continue
                    raise BadGateway(f"The {service} service could not be reached") from outcome
        except TimeoutError as exc:
            if started:
                raise
            breaker.record(False, probe=probe)
            raise GatewayTimeout(f"The {service} service did not answer in time") from exc

    async def _attempt(
        self,
        scope: Scope,
        target: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes | AsyncIterator[bytes] | None,
        length: int | None,
        service: str,
        url: str,
    ) -> UpstreamResponse | Exception:
        balancer = self.balancer(service)
        balancer.started(url)
        started_at = time.perf_counter()
        try:
            response = await self.client.request(
                scope["method"], url, target, headers, body, body_length=length
            )
        except (UpstreamError, OSError) as exc:
            UPSTREAM_REQUESTS.labels(service, "no_answer").inc()
            log.warning("upstream_failed", service=service, instance=url, error=type(exc).__name__)
            return exc
        finally:
            balancer.finished(url)
        self._series(service, response.status // 100).observe(time.perf_counter() - started_at)
        return response

    def _timeout(self, service: str, path: str) -> float:
        """The route's time budget, remembered per path (bounded: forgotten past 4,096)."""
        key = (service, path)
        seconds = self._timeouts.get(key)
        if seconds is None:
            if len(self._timeouts) >= 4096:
                self._timeouts.clear()
            seconds = self._timeouts[key] = self.timeouts.for_route(service, path)
        return seconds

    def _series(self, service: str, status_class: int) -> _UpstreamSeries:
        series = self._metrics.get((service, status_class))
        if series is None:
            series = self._metrics[(service, status_class)] = _UpstreamSeries(
                service, f"{status_class}xx"
            )
        return series

    async def _may_try_again(self, service: str, attempts: int, deadline: float, why: str) -> bool:
        """One more attempt if attempts, budget and deadline allow; waits the backoff first."""
        if attempts >= MAX_ATTEMPTS:
            return False
        delay = backoff_seconds(attempts)
        if asyncio.get_running_loop().time() + delay >= deadline:
            return False
        if not self.budget(service).try_spend():
            RETRIES_REFUSED.labels(service).inc()
            return False
        RETRIES.labels(service, why).inc()
        await asyncio.sleep(delay)
        return True

    @staticmethod
    async def _relay(
        response: UpstreamResponse,
        send: Send,
        head: bool,
        extra_headers: list[tuple[bytes, bytes]] | None = None,
        record: list[Message] | None = None,
    ) -> None:
        try:
            start: Message = {
                "type": "http.response.start",
                "status": response.status,
                "headers": client_response_headers(response.raw_headers(), extra_headers or ()),
            }
            if record is not None:
                record.append(start)
            await send(start)
            if not head:
                whole = response.whole_body()
                if whole is not None:
                    # the answer already arrived complete: one message, so the server can send
                    # it with its length instead of as a stream
                    message: Message = {"type": "http.response.body", "body": whole}
                    if record is not None:
                        record.append(message)
                    await send(message)
                    return
                async for chunk in response.chunks():
                    message = {"type": "http.response.body", "body": chunk, "more_body": True}
                    if record is not None:
                        record.append(message)
                    await send(message)
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.release()


def _request_facts(scope: Scope) -> tuple[bool, int | None, bool]:
    """(has a body, its declared length, carries an ``Idempotency-Key``), in one pass."""
    has_body = chunked = idempotency_key = seen_length = False
    length: int | None = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            if not has_body and not chunked:
                has_body = value.strip() not in (b"", b"0")
            if not seen_length:
                seen_length = True
                try:
                    length = int(value)
                except ValueError:
                    length = None
        elif name == b"transfer-encoding":
            has_body = chunked = True
        elif name == b"idempotency-key":
            idempotency_key = True
    return has_body, length, idempotency_key


class _RouteLabel:
    """What the metrics middleware reads as the route of a proxied request."""

    def __init__(self, path: str) -> None:
        self.path = path


class ProxyRoute:
    """Every proxied /api/v1 path (``ProxyDispatch`` hands them over). In order: the caller is
    authenticated (except on public routes), counted against the rate limits, answered from the
    cache where allowed, then proxied."""

    def __init__(
        self, proxy: Proxy, edge_auth: EdgeAuth, limiter: RateLimiter, cache: ResponseCache
    ) -> None:
        self.proxy = proxy
        self.edge_auth = edge_auth
        self.limiter = limiter
        self.cache = cache
        self._labels: dict[str, _RouteLabel] = {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        route = match_route(path)
        if route is None:
            raise NotFound("Route not found")
        label = self._labels.get(route.prefix)
        if label is None:
            label = self._labels[route.prefix] = _RouteLabel(f"/api/v1/{route.prefix}/*")
        scope["route"] = label
        if is_public(scope["method"], path):
            client = scope["client"][0] if scope.get("client") else "unknown"
            session_key = client
            client_key = "ip:" + client
        else:
            session_key = (await self.edge_auth.authenticate(scope)).sub
            client_key = "user:" + session_key
        verdict = await self.limiter.check(scope["method"], path, route.prefix, client_key)
        extra = verdict.headers()
        ticket = self.cache.ticket(scope)
        if ticket is None:
            await self.proxy.handle(scope, receive, send, route, session_key, extra)
            if self.cache.invalidated_by(scope):
                await self.cache.invalidate()
            return
        if await self.cache.serve(scope, ticket, send, extra):
            return
        extra.append(MISS_HEADER)
        sent: list[Message] = []
        await self.proxy.handle(scope, receive, send, route, session_key, extra, sent)
        await self.cache.store_if_allowed(ticket, sent)


class ProxyDispatch:
    """Plain-ASGI middleware, innermost, that takes proxied paths before FastAPI's router.

    FastAPI's router and exception middleware cost more per request than the proxying itself
    (measured under wrk), so /api/v1 paths other than the gateway's own (``own_prefixes``) go
    straight to the proxy route; its errors are rendered into the shared envelope here.
    """

    def __init__(self, app: ASGIApp, route: ProxyRoute, own_prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.route = route
        self.own_prefixes = own_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] != "http"
            or not path.startswith("/api/v1/")
            or path.startswith(self.own_prefixes)
        ):
            await self.app(scope, receive, send)
            return
        tracking = StartTrackingSend(send)
        try:
            await self.route.handle(scope, receive, tracking)
        except AppError as exc:
            if tracking.started:
                raise
            if exc.status_code >= 500:
                log.warning("gateway_error", code=exc.code, error=exc.message)
            response = error_response(
                exc.status_code, exc.message, exc.code, exc.details, exc.headers
            )
            await response(scope, receive, send)
