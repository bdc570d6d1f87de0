"""Fixtures of the webhook tests: a database of their own (their worker must not meet other
tests' jobs), the provider sandbox over HTTP (tests/integrations/conftest.py) and the
integration app in-process with known webhook secrets."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from tests.integrations.helpers import Sandbox, provider_settings
from tests.integrations.webhooks.support import (
    API_URL,
    MAILCHIMP_SECRET,
    MANDRILL_KEY,
    STRIPE_SECRET,
    mark_jobs,
)
from tests.support import make_settings, migrated_scratch_database, running_app

from tickettoken.kit.db import Database
from tickettoken.kit.settings import Settings


@pytest.fixture(scope="session")
async def webhooks_database_url(pg_server_url: str) -> AsyncIterator[str]:
    async with migrated_scratch_database(pg_server_url, "tt_webhooks") as url:
        yield url


def webhook_settings(database_url: str, sandbox: Sandbox, **overrides: object) -> Settings:
    values: dict[str, object] = {
        **provider_settings(sandbox),
        "api_url": API_URL,
        "database_url": database_url,
        "db_pool_max": 20,
        "stripe_webhook_secret": STRIPE_SECRET,
        "square_webhook_signature_key": sandbox.index["square"]["webhook_signature_key"],
        "quickbooks_webhook_token": sandbox.index["quickbooks"]["webhook_verifier_token"],
        "mandrill_webhook_key": MANDRILL_KEY,
        "mailchimp_webhook_secret": MAILCHIMP_SECRET,
        **overrides,
    }
    return make_settings(**values)


@pytest.fixture(autouse=True)
async def _jobs_of_this_test(webhooks_database_url: str) -> None:
    """Mark where this test's jobs begin, before any other fixture enqueues one."""
    database = Database(webhooks_database_url, pool_min=1, pool_max=1)
    try:
        await mark_jobs(database)
    finally:
        await database.dispose()


@pytest.fixture
def settings_for_webhooks(webhooks_database_url: str, sandbox: Sandbox) -> Settings:
    return webhook_settings(webhooks_database_url, sandbox)


@pytest.fixture
async def wdb(webhooks_database_url: str) -> AsyncIterator[Database]:
    database = Database(webhooks_database_url, pool_min=1, pool_max=10)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def app_client(settings_for_webhooks: Settings) -> AsyncIterator[httpx.AsyncClient]:
    from tickettoken.integrations.app import create_app

    app = create_app(settings_for_webhooks)
    async with running_app(app) as http:
        await app.state.token_refresher.stop()
        yield http
