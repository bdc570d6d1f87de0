"""Every HTTP request to a provider passes here: the shared rate limiter, the call observer, and
the retry policy, whether an official SDK or one of our clients sends it.

The SDKs (``stripe``, ``squareup``) and our own clients all send through one ``httpx.AsyncClient``
per provider whose transport is ``LimitedTransport``. The logical call (``CallRunner.run``) sets a
context variable naming the call (provider, limiter key, venue, endpoint); the transport reads it
for each attempt, so an SDK's request is limited and observed without the SDK knowing. Each
attempt holds one limiter slot (a token and a concurrency slot) until its whole body is read,
because Mailchimp counts open connections. A 429 penalizes the shared bucket for ``Retry-After``.

Retry policy: 429, 5xx and network failures are retried up to ``max_attempts`` (4) with full-jitter
exponential backoff (0.25 s doubling, at most 8 s), or exactly ``Retry-After`` when the provider
sends it (up to 30 s; a longer one is not waited for here: the error carries it for the job
queue). Stripe's
``Stripe-Should-Retry`` overrides the status either way. A request that may have reached the
provider is retried only when it is safe: a GET, or a write carrying an idempotency key, which the
caller creates once per logical call so every attempt sends the same one.

The observer (``CallObserver``) gets one ``CallRecord`` per attempt, for the integration service's
API-call counts and costs; a failing observer is logged and never fails the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import httpx

from tickettoken.integrations.providers.base import ProviderError
from tickettoken.kit.provider_limits import RateLimiter, RateLimitError, create_rate_limiter

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class CallRecord:
    """One HTTP attempt to a provider, as the observer sees it (no secrets, no bodies)."""

    provider: str
    venue_id: str | None
    endpoint: str  # the operation, e.g. "customers.create", "oauth.token", "companyinfo"
    method: str
    status: int | None  # None: no answer (network failure)
    elapsed_ms: float
    request_bytes: int
    response_bytes: int
    attempt: int  # 1 for the first try
    limiter_key: str
    at: datetime
    error: str | None = None  # the exception type of a network failure


CallObserver = Callable[[CallRecord], Awaitable[None]]
"""Called once per attempt after it ends; pass one to ``build_provider(..., observer=)``."""


@dataclass
class Call:
    """The logical call the current attempt belongs to, and what its last attempt saw."""

    provider: str
    endpoint: str
    limiter_key: str
    venue_id: str | None = None
    attempt: int = 0
    status: int | None = None
    retry_after: float | None = None
    should_retry: bool | None = None  # Stripe-Should-Retry, when sent
    network_error: BaseException | None = None
    reached_provider: bool = False
    limiter_error: ProviderError | None = None  # the shared limiter refused (bounded wait)


_current: contextvars.ContextVar[Call | None] = contextvars.ContextVar(
    "provider_call", default=None
)
_venue: contextvars.ContextVar[str | None] = contextvars.ContextVar("provider_venue", default=None)


@contextlib.contextmanager
def venue_scope(venue_id: str | None) -> Iterator[None]:
    """Calls made inside (code exchanges, refreshes) are reported with this venue."""
    token = _venue.set(venue_id)
    try:
        yield
    finally:
        _venue.reset(token)


def account_key(provider: str, secret: str) -> str:
    """A limiter key for an account known only by its key or token: a hash, never the secret."""
    return f"{provider}:{hashlib.sha256(secret.encode()).hexdigest()[:16]}"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every given secret (and a long-enough prefix of it) replaced."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, "[redacted]")
    return text


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from email.utils import parsedate_to_datetime

        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


class LimitedTransport(httpx.AsyncBaseTransport):
    """Wraps the real transport: a limiter slot per attempt, the observer, 429 penalties."""

    def __init__(
        self,
        provider: str,
        limiter: RateLimiter,
        observer: CallObserver | None,
        inner: httpx.AsyncBaseTransport | None = None,
        *,
        max_wait: float | None = None,
    ) -> None:
        self.provider = provider
        self.limiter = limiter
        self.observer = observer
        self.inner = inner or httpx.AsyncHTTPTransport()
        self.max_wait = max_wait

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        call = _current.get()
        if call is None:  # a request outside CallRunner.run: still limited, under the provider
            call = Call(self.provider, request.url.path, limiter_key=self.provider)
        call.attempt += 1
        call.status = call.retry_after = call.should_retry = call.network_error = None
        try:
            async with self.limiter.slot(call.limiter_key, max_wait=self.max_wait):
                return await self._send(call, request)
        except RateLimitError as exc:
            # An SDK may wrap what the transport raises; the runner finds it on the call.
            call.limiter_error = ProviderError(
                f"rate limiter refused the call: {type(exc).__name__}",
                code="rate_limiter",
                retryable=True,
                provider=call.provider,
            )
            raise call.limiter_error from exc

    async def _send(self, call: Call, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        sent = len(request.content) if isinstance(request.stream, httpx.ByteStream) else 0
        try:
            response = await self.inner.handle_async_request(request)
            try:
                # Raw bytes as they came (still compressed): the client decodes them once, and
                # the observer counts what crossed the wire.
                body = b"".join([chunk async for chunk in response.aiter_raw()])
            finally:
                await response.aclose()
        except httpx.TransportError as exc:
            call.network_error = exc
            call.reached_provider = call.reached_provider or not isinstance(
                exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout
            )
            await self._observe(call, request, None, started, sent, 0, type(exc).__name__)
            raise
        call.reached_provider = True
        call.status = response.status_code
        call.retry_after = parse_retry_after(response.headers.get("retry-after"))
        should = response.headers.get("stripe-should-retry")
        call.should_retry = None if should is None else should.lower() == "true"
        if response.status_code == 429:
            await self.limiter.penalize(call.limiter_key, call.retry_after)
        await self._observe(call, request, response.status_code, started, sent, len(body), None)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=httpx.ByteStream(body),
            extensions=response.extensions,
            request=request,
        )

    async def _observe(
        self,
        call: Call,
        request: httpx.Request,
        status: int | None,
        started: float,
        sent: int,
        received: int,
        error: str | None,
    ) -> None:
        if self.observer is None:
            return
        record = CallRecord(
            provider=call.provider,
            venue_id=call.venue_id,
            endpoint=call.endpoint,
            method=request.method,
            status=status,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            request_bytes=sent,
            response_bytes=received,
            attempt=call.attempt,
            limiter_key=call.limiter_key,
            at=datetime.now(UTC),
            error=error,
        )
        try:
            await self.observer(record)
        except Exception:  # counting must never fail the call
            log.exception("provider call observer failed", extra={"provider": call.provider})

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 8.0
    max_retry_after: float = 30.0

    def delay(self, call: Call, retry_number: int) -> float:
        if call.retry_after is not None:
            return min(call.retry_after, self.max_retry_after)
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**retry_number))


@dataclass
class CallRunner:
    """Runs one logical call (one or more attempts) with the retry policy."""

    provider: str
    policy: RetryPolicy = field(default_factory=RetryPolicy)

    @contextlib.asynccontextmanager
    async def _scope(self, call: Call) -> AsyncIterator[None]:
        token = _current.set(call)
        try:
            yield
        finally:
            _current.reset(token)

    def _retryable(self, call: Call, *, safe: bool) -> bool:
        if call.should_retry is not None:
            return call.should_retry
        if call.status is not None:
            return call.status == 429 or call.status >= 500
        if call.network_error is not None:
            return safe or not call.reached_provider
        return False

    async def run(
        self,
        endpoint: str,
        attempt: Callable[[], Awaitable[T]],
        *,
        limiter_key: str | None = None,
        venue_id: str | None = None,
        safe: bool = False,
        accept: Callable[[T], bool] | None = None,
    ) -> T:
        """Run ``attempt`` until it succeeds or stops being retryable.

        ``attempt`` sends exactly one request (an SDK call with its own retries off, or one
        httpx request). It may raise (SDKs) or return a response (``accept`` says whether a
        returned value is final; by default any returned value is). ``safe``: repeating the
        request cannot do anything twice (a GET, or a write with an idempotency key)."""
        call = Call(
            provider=self.provider,
            endpoint=endpoint,
            limiter_key=limiter_key or self.provider,
            venue_id=venue_id or _venue.get(),
        )
        retries = 0
        async with self._scope(call):
            while True:
                call.status = call.retry_after = call.should_retry = None
                call.network_error = None
                try:
                    result = await attempt()
                except Exception as exc:
                    if call.limiter_error is not None:  # the limiter already waited its time
                        raise call.limiter_error from exc
                    if not self._can_retry(call, retries, safe):
                        raise
                else:
                    if accept is None or accept(result) or not self._can_retry(call, retries, safe):
                        return result
                await asyncio.sleep(self.policy.delay(call, retries))
                retries += 1

    def _can_retry(self, call: Call, retries: int, safe: bool) -> bool:
        if call.retry_after is not None and call.retry_after > self.policy.max_retry_after:
            return False  # a long wait belongs to the job queue, not to a request
        return retries + 1 < self.policy.max_attempts and self._retryable(call, safe=safe)


def limited_client(
    provider: str,
    limiter: RateLimiter | None,
    observer: CallObserver | None,
    *,
    timeout: float = 30.0,
    inner: httpx.AsyncBaseTransport | None = None,
    max_wait: float | None = None,
) -> httpx.AsyncClient:
    """The one httpx client a provider sends everything through."""
    transport = LimitedTransport(
        provider, limiter or create_rate_limiter(None), observer, inner, max_wait=max_wait
    )
    return httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False)
