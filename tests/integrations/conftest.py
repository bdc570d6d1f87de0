"""Fixtures of the integration service's tests: the provider sandbox over real HTTP (in a thread),
settings that point every provider at it with a vault key, and the integration app in-process.
Helpers (the browser that walks an authorize URL, sandbox controls) are in ``helpers.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from tests.integrations.helpers import CONTROL, SANDBOX_KEY, Sandbox, provider_settings
from tests.sandbox.sandbox_threaded import serve_in_thread
from tests.support import make_settings, running_app

from tickettoken.kit.settings import Settings
from tickettoken.sandbox.app import create_sandbox_app


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with serve_in_thread(create_sandbox_app(secret_key=SANDBOX_KEY)) as url:
        httpx.post(f"{url}/square/_sandbox/rate-limit", headers=CONTROL, json={"per_second": 1000})
        httpx.post(
            f"{url}/quickbooks/_sandbox/limits",
            headers=CONTROL,
            json={"per_second": 1000, "per_minute": 100000, "batches_per_minute": 1000},
        )
        yield Sandbox(url, httpx.get(f"{url}/").json()["providers"])


@pytest.fixture
def integration_settings(database_url: str, redis_url: str, sandbox: Sandbox) -> Settings:
    return make_settings(
        database_url=database_url, redis_url=redis_url, **provider_settings(sandbox)
    )


@pytest.fixture
async def client(integration_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    from tickettoken.integrations.app import create_app

    app = create_app(integration_settings)
    async with running_app(app) as http:
        # The background refresher would race the refresh tests' own counts; it is tested by
        # calling its round (test_refresh.py).
        assert app.state.token_refresher.running
        await app.state.token_refresher.stop()
        # Likewise the health checker: its rounds check (and so refresh) every connection of the
        # shared database; it is tested by its own tests (tests/integrations/health).
        await app.state.health_checker.stop()
        yield http
