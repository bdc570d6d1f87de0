"""The provider sandbox over real HTTP (in a thread, so blocking clients work too), settings that
point every provider at it, and a helper that walks an authorize URL like a browser would."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from tests.sandbox.sandbox_threaded import serve_in_thread

from tickettoken.integrations.providers import (
    CallRecord,
    Provider,
    RetryPolicy,
    build_provider,
    oauth_redirect_uri,
)
from tickettoken.kit.provider_limits import ProviderLimit, RateLimiter, create_rate_limiter
from tickettoken.kit.settings import Settings
from tickettoken.sandbox.app import create_sandbox_app

KEY = "sk_test_providers"
CONTROL = {"Authorization": f"Bearer {KEY}"}
FAST_RETRIES = RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.2, max_retry_after=2.0)
# Generous limits: the tests that need the sandbox's 429s must reach the sandbox.
GENEROUS = {
    name: ProviderLimit(rate=1000, concurrency=100, burst=1000)
    for name in ("stripe", "square", "mailchimp", "quickbooks", "internal")
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


@pytest.fixture(scope="session")
def arrival_log() -> ArrivalLog:
    return ArrivalLog(create_sandbox_app(secret_key=KEY))


@pytest.fixture(scope="session")
def sandbox_url(arrival_log: ArrivalLog) -> Iterator[str]:
    with serve_in_thread(arrival_log) as url:  # type: ignore[arg-type]
        # Back-to-back calls stay clear of the per-second limits; the 429 tests lower them.
        httpx.post(f"{url}/square/_sandbox/rate-limit", headers=CONTROL, json={"per_second": 1000})
        httpx.post(
            f"{url}/quickbooks/_sandbox/limits",
            headers=CONTROL,
            json={"per_second": 1000, "per_minute": 100000, "batches_per_minute": 1000},
        )
        yield url


@pytest.fixture(scope="session")
def sandbox_index(sandbox_url: str) -> dict[str, Any]:
    providers: dict[str, Any] = httpx.get(f"{sandbox_url}/").json()["providers"]
    return providers


@pytest.fixture(scope="session")
def provider_settings(sandbox_url: str, sandbox_index: dict[str, Any]) -> Settings:
    stripe, square = sandbox_index["stripe"], sandbox_index["square"]
    mailchimp, quickbooks = sandbox_index["mailchimp"], sandbox_index["quickbooks"]
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        api_url="https://platform.example",
        stripe_secret_key=KEY,
        stripe_base_url=stripe["api_base_url"],
        stripe_connect_base_url=stripe["oauth_base_url"],
        stripe_connect_client_id=stripe["connect_client_id"],
        square_app_id=square["application_id"],
        square_app_secret=square["application_secret"],
        square_base_url=square["api_base_url"],
        mailchimp_client_id=mailchimp["oauth_client_id"],
        mailchimp_client_secret=mailchimp["oauth_client_secret"],
        mailchimp_base_url=mailchimp["api_endpoint"],
        mailchimp_api_base_url=mailchimp["api_endpoint"],
        quickbooks_client_id=quickbooks["client_id"],
        quickbooks_client_secret=quickbooks["client_secret"],
        quickbooks_base_url=quickbooks["api_base_url"].removesuffix("/v3"),
        quickbooks_discovery_url=quickbooks["discovery_url"],
    )


class Recorder:
    """A call observer that keeps every record."""

    def __init__(self) -> None:
        self.records: list[CallRecord] = []

    async def __call__(self, record: CallRecord) -> None:
        self.records.append(record)

    def endpoints(self) -> list[str]:
        return [r.endpoint for r in self.records]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def limiter() -> RateLimiter:
    return create_rate_limiter(None, limits=GENEROUS)


@pytest.fixture
async def make_provider(
    provider_settings: Settings, limiter: RateLimiter, recorder: Recorder
) -> AsyncIterator[Callable[..., Provider]]:
    built: list[Provider] = []

    def make(name: str, **kwargs: Any) -> Provider:
        kwargs.setdefault("limiter", limiter)
        kwargs.setdefault("observer", recorder)
        kwargs.setdefault("retry", FAST_RETRIES)
        provider = build_provider(name, kwargs.pop("settings", provider_settings), **kwargs)
        built.append(provider)
        return provider

    yield make
    for provider in built:
        await provider.aclose()


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
