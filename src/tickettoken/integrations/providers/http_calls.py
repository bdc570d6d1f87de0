"""One request of our own clients (Mailchimp, QuickBooks) through the retry runner: retried while
the answer is 429 or 5xx (or the network failed and repeating is safe), then handed back as is
for the client to read or turn into its provider's error.

JSON bodies are written and read with orjson: a sync sends and reads batches of hundreds of
objects, and the standard library's encoder and decoder were a third of the worker's CPU there
(a Square catalog batch-upsert answer echoes all 1,000 objects)."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from tickettoken.integrations.providers.base import ProviderError
from tickettoken.integrations.providers.calls import CallRunner


def _final(response: httpx.Response) -> bool:
    return response.status_code != 429 and response.status_code < 500


async def send(
    runner: CallRunner,
    http: httpx.AsyncClient,
    endpoint: str,
    method: str,
    url: str,
    *,
    limiter_key: str,
    venue_id: str | None = None,
    safe: bool | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """``safe`` defaults to True for GET and False otherwise (pass True for idempotent writes)."""
    is_safe = method.upper() == "GET" if safe is None else safe
    if "json" in kwargs:
        # the same bytes httpx would send (compact UTF-8), encoded once for every attempt
        kwargs["content"] = orjson.dumps(kwargs.pop("json"))
        kwargs["headers"] = {**(kwargs.get("headers") or {}), "Content-Type": "application/json"}
    try:
        return await runner.run(
            endpoint,
            lambda: http.request(method, url, **kwargs),
            limiter_key=limiter_key,
            venue_id=venue_id,
            safe=is_safe,
            accept=_final,
        )
    except httpx.TransportError as exc:
        raise ProviderError(
            f"{runner.provider} unreachable: {type(exc).__name__}",
            code="network",
            retryable=True,
            provider=runner.provider,
        ) from exc


def json_or_empty(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {}
