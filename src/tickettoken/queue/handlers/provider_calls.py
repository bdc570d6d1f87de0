"""Calling a provider from a handler: the shared rate limiter, request ids, and turning HTTP
answers into the engine's retryable/permanent errors.

A 429 slows the shared limiter down (``penalize``) and retries after ``Retry-After``; Stripe's
``Stripe-Should-Retry`` header overrides the status-based guess either way.
"""

from __future__ import annotations

from typing import Any

import httpx

from tickettoken.kit.jobs import JobContext, PermanentJobError, RetryableJobError
from tickettoken.kit.provider_limits import RateLimitError


def _retry_after(response: httpx.Response) -> float | None:
    try:
        value = response.headers.get("Retry-After")
        return float(value) if value is not None else None
    except ValueError:
        return None


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error.get("code") or error)
        if error:
            return str(error)
    return str(body)[:300]


async def call_provider(
    ctx: JobContext,
    provider: str,
    method: str,
    url: str,
    *,
    idempotency_key: str | None = None,
    headers: dict[str, str] | None = None,
    request_timeout: float = 30.0,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request under the provider's shared limit; raise the engine's errors."""
    sent_headers = {"X-Request-ID": f"job-{ctx.job_id}", **(headers or {})}
    if idempotency_key:
        sent_headers["Idempotency-Key"] = idempotency_key
    try:
        async with ctx.limiter.slot(provider):
            response = await ctx.http.request(
                method, url, headers=sent_headers, timeout=request_timeout, **kwargs
            )
    except RateLimitError as exc:
        raise RetryableJobError(f"{provider} rate limit: {exc}") from exc
    if response.status_code < 400:
        return response
    retry_after = _retry_after(response)
    if response.status_code == 429:
        await ctx.limiter.penalize(provider, retry_after)
    should_retry = response.headers.get("Stripe-Should-Retry")
    retryable = response.status_code == 429 or response.status_code >= 500
    if should_retry is not None:
        retryable = should_retry.lower() == "true"
    message = f"{provider} answered {response.status_code}: {_message(response)}"
    if retryable:
        raise RetryableJobError(message, retry_after=retry_after)
    raise PermanentJobError(message)


def require(payload: dict[str, Any], *names: str) -> list[Any]:
    """The payload's values for these fields; a missing one is a permanent error."""
    missing = [name for name in names if payload.get(name) in (None, "")]
    if missing:
        raise PermanentJobError(f"payload is missing {', '.join(missing)}")
    return [payload[name] for name in names]


def endpoint(value: str | None, setting: str) -> str:
    if not value:
        raise PermanentJobError(f"{setting} is not configured")
    return value.rstrip("/")
