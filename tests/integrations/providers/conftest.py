"""The provider sandbox over real HTTP (in a thread, so blocking clients work too) behind a record
of what it received, settings that point every provider at it, and a provider factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.middleware.gzip import GZipMiddleware
from tests.integrations.providers.provider_support import (
    CONTROL,
    FAST_RETRIES,
    GENEROUS,
    KEY,
    ArrivalLog,
    Recorder,
)
from tests.sandbox.sandbox_threaded import serve_in_thread

from tickettoken.integrations.providers import (
    Provider,
    build_provider,
)
from tickettoken.kit.provider_limits import RateLimiter, create_rate_limiter
from tickettoken.kit.settings import Settings
from tickettoken.sandbox.app import create_sandbox_app


@pytest.fixture(scope="session")
def arrival_log() -> ArrivalLog:
    return ArrivalLog(create_sandbox_app(secret_key=KEY))


@pytest.fixture(scope="session")
def sandbox_url(arrival_log: ArrivalLog) -> Iterator[str]:
    # Compressed answers, as the real APIs send them to clients that accept gzip.
    app = GZipMiddleware(arrival_log, minimum_size=64)
    with serve_in_thread(app) as url:  # type: ignore[arg-type]
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
