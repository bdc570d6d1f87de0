"""Helpers of the provider-client tests: the sandbox's key, a record of what the sandbox received,
a call observer that keeps its records, and a browser-less walk through an authorize page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tickettoken.integrations.providers import CallRecord, RetryPolicy, oauth_redirect_uri
from tickettoken.kit.provider_limits import ProviderLimit
from tickettoken.kit.settings import Settings

KEY = "sk_test_providers"
CONTROL = {"Authorization": f"Bearer {KEY}"}
FAST_RETRIES = RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.2, max_retry_after=2.0)
# Generous limits: the tests that need the sandbox's 429s must reach the sandbox.
GENEROUS = {
    name: ProviderLimit(rate=1000, concurrency=100, burst=1000)
    for name in ("stripe", "square", "mailchimp", "quickbooks", "quickbooks-batch", "internal")
}


@dataclass
class Arrival:
    """One request as the sandbox received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


class ArrivalLog:
    """ASGI middleware in front of the sandbox app: every request as it arrived there."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.arrivals: list[Arrival] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The whole body first: a sandbox may refuse (429) without ever reading it.
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        body = b"".join(chunks)
        self.arrivals.append(Arrival(scope["method"], scope["path"], query, headers, body))
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def matching(self, method: str, path_suffix: str) -> list[Arrival]:
        return [a for a in self.arrivals if a.method == method and a.path.endswith(path_suffix)]


class Recorder:
    """A call observer that keeps every record."""

    def __init__(self) -> None:
        self.records: list[CallRecord] = []

    async def __call__(self, record: CallRecord) -> None:
        self.records.append(record)

    def endpoints(self) -> list[str]:
        return [r.endpoint for r in self.records]


def redirect_uri(settings: Settings, provider: str) -> str:
    return oauth_redirect_uri(settings, provider)


async def approve(authorize_url: str, **extra: str) -> dict[str, str]:
    """Open the authorize URL as the venue's browser would; the callback's query parameters."""
    url = httpx.URL(authorize_url)
    for name, value in extra.items():
        url = url.copy_add_param(name, value)
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(url)
    assert answer.status_code == 302, answer.text
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    return {name: values[0] for name, values in query.items()}


def control(sandbox_url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(f"{sandbox_url}{path}", headers=CONTROL, json=body)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result
