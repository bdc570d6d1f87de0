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
from collections.abc import AsyncIterator, Awaitable

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tickettoken.gateway.balancing import Balancer, Strategy
from tickettoken.gateway.cache import MISS_HEADER, ResponseCache, default_ttl
from tickettoken.gateway.discovery import InstancePool
from tickettoken.gateway.edge_auth import PRINCIPAL_SCOPE_KEY, EdgeAuth
from tickettoken.gateway.headers import (
    Answer,
    RequestHead,
    client_response_headers,
    read_request_head,
    upstream_request_headers,
)
from tickettoken.gateway.metrics import (
    BREAKER_REJECTIONS,
    RETRIES,
    RETRIES_REFUSED,
    UPSTREAM_DURATION,
    UPSTREAM_REQUESTS,
)
from tickettoken.gateway.ratelimit import RateLimiter, Rule
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


class _Service:
    """One service's breaker, retry budget, balancer and upstream series, looked up together
    once per request (none of them is ever replaced once made)."""

    __slots__ = ("balancer", "breaker", "budget", "series")

    def __init__(self, breaker: CircuitBreaker, budget: RetryBudget, balancer: Balancer) -> None:
        self.breaker = breaker
        self.budget = budget
        self.balancer = balancer
        self.series: dict[int, _UpstreamSeries] = {}  # by status class


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
        self._services: dict[str, _Service] = {}
        self._timeouts: dict[tuple[str, str], float] = {}
        self.deadlines = DeadlineWatch()
        # the loop the proxy was started on: asking asyncio for the running loop costs a
        # getpid system call per request in CPython 3.11
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._client = UpstreamClient()
        self._loop = asyncio.get_running_loop()

    async def close(self) -> None:
        self._loop = None
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

    def _service(self, service: str) -> _Service:
        state = self._services.get(service)
        if state is None:
            state = self._services[service] = _Service(
                self.breakers.get(service), self.budget(service), self.balancer(service)
            )
        return state

    def handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: RouteMatch,
        session_key: str | None = None,
        extra_headers: list[tuple[bytes, bytes]] | None = None,
        record: list[Message] | None = None,
        *,
        head: RequestHead | None = None,
        answer: Answer | None = None,
        budget_seconds: float | None = None,
    ) -> Awaitable[None]:
        """Proxy one request (await what it returns: the checks below raise at once, and the
        forwarding is the only coroutine, a layer less per request). ``extra_headers`` are
        added to the answer's headers (the edge's rate-limit and cache headers); ``record``,
        when given, receives the messages sent (the response cache stores from them).
        ``head``: the request's headers already read (``read_request_head``); ``answer``
        learns the status as the answer starts; ``budget_seconds``: the route's time budget
        when the caller knows it."""
        service = route.service
        if not self.pool.instances(service):
            raise ServiceUnavailable(
                f"The {service} service is not configured (set {service.upper()}_SERVICE_URL)"
            )
        state = self._service(service)
        breaker = state.breaker
        try:
            probe = breaker.admit()
        except BreakerOpen:
            BREAKER_REJECTIONS.labels(service).inc()
            raise
        forward = self._forward(
            scope,
            receive,
            send,
            service,
            state,
            probe,
            session_key,
            extra_headers,
            record,
            head,
            answer,
            budget_seconds,
        )
        return self._as_probe(forward, breaker) if probe else forward

    @staticmethod
    async def _as_probe(forward: Awaitable[None], breaker: CircuitBreaker) -> None:
        """The half-open breaker's probe: the breaker hears when it ended without an answer."""
        try:
            await forward
        finally:
            breaker.abandon_probe()

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        service: str,
        state: _Service,
        probe: bool,
        session_key: str | None,
        extra_headers: list[tuple[bytes, bytes]] | None = None,
        record: list[Message] | None = None,
        head: RequestHead | None = None,
        answer: Answer | None = None,
        budget_seconds: float | None = None,
    ) -> None:
        request_id = current_request_id() or accept_or_generate(None)
        method: str = scope["method"]
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        query = scope.get("query_string", b"")
        if query:
            path += "?" + query.decode("latin-1")
        if head is None:
            head = read_request_head(scope)
        has_body, length = head.has_body, head.length
        headers = upstream_request_headers(scope, request_id, head)
        retry_safe = (method in IDEMPOTENT_METHODS or head.idempotency_key) and not probe
        body: bytes | AsyncIterator[bytes] | None = None
        if has_body:
            # A small body of known length is read first, so it can be sent again to another
            # instance; a large or chunked one streams through once.
            if length is not None and length <= MAX_REPLAYABLE_BODY:
                body = b"".join([chunk async for chunk in _client_body(receive)])
            else:
                body = _client_body(receive)
                retry_safe = False
        breaker, balancer = state.breaker, state.balancer
        state.budget.note_request()
        loop = self._loop or asyncio.get_running_loop()
        if budget_seconds is None:
            budget_seconds = self._timeout(service, scope["path"])
        deadline = loop.time() + budget_seconds
        tried: tuple[str, ...] = ()
        started = False
        # ``async with self.deadlines.until(...)`` written out: its enter and exit are plain
        # calls here, two coroutines less per request
        watch = self.deadlines.until(loop, deadline)
        try:
            watch.enter()
            leaving: BaseException | None = None
            try:
                while True:
                    candidates = self.pool.candidates(service, exclude=tried)
                    url = balancer.pick(candidates, session_key, self.pool.instances(service))
                    tried += (url,)
                    # one attempt (inline: a coroutine less per request)
                    balancer.started(url)
                    started_at = time.perf_counter()
                    outcome: UpstreamResponse | Exception
                    try:
                        outcome = await self.client.request(
                            method, url, path, headers, body, body_length=length
                        )
                    except (UpstreamError, OSError) as exc:
                        UPSTREAM_REQUESTS.labels(service, "no_answer").inc()
                        log.warning(
                            "upstream_failed",
                            service=service,
                            instance=url,
                            error=type(exc).__name__,
                        )
                        outcome = exc
                    else:
                        series = state.series.get(outcome.status // 100)
                        if series is None:
                            series = state.series[outcome.status // 100] = self._series(
                                service, outcome.status // 100
                            )
                        series.observe(time.perf_counter() - started_at)
                    finally:
                        balancer.finished(url)
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
                        whole = None if method == "HEAD" else response.whole_body()
                        if whole is None and retry_safe and method != "HEAD":
                            # the body is still on its way: nothing has reached the client yet,
                            # so an instance that dies before the end is retried like no answer
                            try:
                                whole = await response.small_body(MAX_REPLAYABLE_BODY)
                            except UpstreamError as exc:
                                response.release_now()
                                UPSTREAM_REQUESTS.labels(service, "cut_short").inc()
                                log.warning(
                                    "upstream_failed",
                                    service=service,
                                    instance=url,
                                    error=type(exc).__name__,
                                )
                                breaker.record(False, probe=probe)
                                self.pool.eject(url)
                                if await self._may_try_again(
                                    service, len(tried), deadline, "cut_short"
                                ):
                                    continue
                                raise BadGateway(
                                    f"The {service} service could not be reached"
                                ) from exc
                        breaker.record(not failed, probe=probe)
                        started = True
                        if whole is None:
                            await self._relay(
                                response, send, method == "HEAD", extra_headers, record, answer
                            )
                            return
                        # the usual answer: complete already, relayed here (as ``_relay`` would)
                        # without a coroutine of its own, its body in one message so the server
                        # sends it with its length
                        try:
                            first: Message = {
                                "type": "http.response.start",
                                "status": response.status,
                                "headers": client_response_headers(
                                    response.headers, extra_headers or ()
                                ),
                            }
                            last: Message = {"type": "http.response.body", "body": whole}
                            if record is not None:
                                record += (first, last)
                            if answer is not None:
                                answer.start(response.status)
                            await send(first)
                            await send(last)
                        finally:
                            response.release_now()
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
            except BaseException as exc:
                leaving = exc
                raise
            finally:
                watch.leave(leaving)
        except TimeoutError as exc:
            if started:
                raise
            breaker.record(False, probe=probe)
            raise GatewayTimeout(f"The {service} service did not answer in time") from exc

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
        answer: Answer | None = None,
    ) -> None:
        try:
            start: Message = {
                "type": "http.response.start",
                "status": response.status,
                "headers": client_response_headers(response.raw_headers(), extra_headers or ()),
            }
            if record is not None:
                record.append(start)
            if answer is not None:
                answer.start(response.status)
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
            response.release_now()


class _RouteLabel:
    """What the metrics middleware reads as the route of a proxied request."""

    def __init__(self, path: str) -> None:
        self.path = path


class _Plan:
    """What every request with one method and path shares, worked out once
    (``ProxyRoute._plan_of``): the route, whether it is public, its rate-limit rule and key,
    cache lifetime, whether it invalidates the cache, and its time budget."""

    __slots__ = (
        "cache_ttl",
        "invalidates",
        "label",
        "public",
        "route",
        "rule",
        "rule_suffix",
        "timeout",
    )

    def __init__(
        self,
        route: RouteMatch,
        label: _RouteLabel,
        public: bool,
        rule: Rule,
        rule_suffix: str,
        cache_ttl: float | None,
        invalidates: bool,
        timeout: float,
    ) -> None:
        self.route = route
        self.label = label
        self.public = public
        self.rule = rule
        self.rule_suffix = rule_suffix
        self.cache_ttl = cache_ttl
        self.invalidates = invalidates
        self.timeout = timeout


MAX_PLANS = 4096  # plans kept per process (paths carry ids): forgotten all at once past this


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
        self._plans: dict[tuple[str, str], _Plan | None] = {}

    def _plan_of(self, method: str, path: str) -> _Plan | None:
        """The plan of a method and path (None: no service owns the path), made on first use."""
        route = match_route(path)
        plan = None
        if route is not None:
            label = self._labels.get(route.prefix)
            if label is None:
                label = self._labels[route.prefix] = _RouteLabel(f"/api/v1/{route.prefix}/*")
            rule, suffix = self.limiter.key_parts(method, path, route.prefix)
            plan = _Plan(
                route,
                label,
                is_public(method, path),
                rule,
                suffix,
                default_ttl(method, path),
                ResponseCache.invalidated_by({"method": method, "path": path}),
                self.proxy.timeouts.for_route(route.service, path),
            )
        if len(self._plans) >= MAX_PLANS:
            self._plans.clear()
        self._plans[(method, path)] = plan
        return plan

    async def handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        answer: Answer | None = None,
        head: RequestHead | None = None,
    ) -> None:
        """``answer``: the edge's record of the answer (its status, the request id header);
        ``head``: the request's headers already read (``read_request_head``)."""
        method: str = scope["method"]
        path: str = scope["path"]
        key = (method, path)
        plan = self._plans[key] if key in self._plans else self._plan_of(method, path)
        if plan is None:
            raise NotFound("Route not found")
        scope["route"] = plan.label
        if head is None:
            head = read_request_head(scope)
        if answer is None:
            answer = Answer()
        rule = plan.rule
        if plan.public:
            client = scope["client"][0] if scope.get("client") else "unknown"
            session_key = client
            counter_key = f"{rule.name}:ip:{client}{plan.rule_suffix}"
        else:
            header = head.authorization
            principal = self.edge_auth.known(header) if type(header) is bytes else None
            if principal is None:
                principal = await self.edge_auth.authenticate(scope, header)
            else:
                scope[PRINCIPAL_SCOPE_KEY] = principal
            session_key = principal.sub
            counter_key = f"{rule.name}:user:{session_key}{plan.rule_suffix}"
        limiter = self.limiter
        if limiter.shared:
            extra = (await limiter.check_key(rule, counter_key)).headers()
        else:
            extra = limiter.check_here(rule, counter_key)
        ticket = self.cache.ticket_of(scope, plan.cache_ttl, head)
        if ticket is None:
            extra += answer.headers
            await self.proxy.handle(
                scope,
                receive,
                send,
                plan.route,
                session_key,
                extra,
                head=head,
                answer=answer,
                budget_seconds=plan.timeout,
            )
            if plan.invalidates:
                await self.cache.invalidate()
            return
        if await self.cache.serve(scope, ticket, send, extra + answer.headers, head, answer):
            return
        extra.append(MISS_HEADER)
        extra += answer.headers
        sent: list[Message] = []
        await self.proxy.handle(
            scope,
            receive,
            send,
            plan.route,
            session_key,
            extra,
            sent,
            head=head,
            answer=answer,
            budget_seconds=plan.timeout,
        )
        ttl = self.cache.lifetime_of(ticket, sent)
        if ttl > 0:
            await self.cache.store_answer(ticket, sent, ttl)


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
        answer = Answer()
        try:
            await self.route.handle(scope, receive, send, answer)
        except AppError as exc:
            if answer.started:
                raise
            if exc.status_code >= 500:
                log.warning("gateway_error", code=exc.code, error=exc.message)
            response = error_response(
                exc.status_code, exc.message, exc.code, exc.details, exc.headers
            )
            await response(scope, receive, send)
