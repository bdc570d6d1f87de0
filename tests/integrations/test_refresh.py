"""Refresh without races: an expired QuickBooks token used 20 times at once from two processes
costs exactly one token request at the sandbox, every use succeeds and the stored refresh token is
the newest; a refresh whose answer was lost does not lose the connection; ``invalid_grant`` marks
the connection ``error`` and nothing retries it."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from tests.integrations.helpers import Sandbox, approve, provider_settings
from tests.support import auth_header

from tickettoken.integrations.connections import credentials as creds
from tickettoken.integrations.connections.clients import ProviderClients
from tickettoken.integrations.connections.errors import ConnectionBroken
from tickettoken.integrations.models import IntegrationConfig, OAuthToken
from tickettoken.integrations.vault.sealed import unseal
from tickettoken.kit.db import Database
from tickettoken.kit.settings import Settings
from tickettoken.kit.vault import vault_for

BASE = "/api/v1/integrations"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def database(integration_settings: Settings) -> AsyncIterator[Database]:
    db = Database(integration_settings.sqlalchemy_url() or "")
    yield db
    await db.dispose()


@pytest.fixture
async def clients(integration_settings: Settings) -> AsyncIterator[ProviderClients]:
    made = ProviderClients(integration_settings)
    yield made
    await made.aclose()


async def _connect_quickbooks(
    client: httpx.AsyncClient, token_for: Callable[..., str]
) -> uuid.UUID:
    venue = uuid.uuid4()
    headers = auth_header(token_for("venue_admin", venue_ids=[str(venue)]))
    started = await client.post(
        f"{BASE}/connect/quickbooks", json={"venue_id": str(venue)}, headers=headers
    )
    params = await approve(started.json()["data"]["authorization_url"])
    done = await client.get(f"{BASE}/oauth/callback/quickbooks", params=params)
    assert done.status_code == 200, done.text
    return venue


async def _stored(database: Database, venue: uuid.UUID) -> OAuthToken:
    async with AsyncSession(database.engine) as session:
        token = await session.scalar(
            select(OAuthToken).where(
                OAuthToken.venue_id == venue, OAuthToken.integration_type == "quickbooks"
            )
        )
    assert token is not None
    return token


def _refresh_token(settings: Settings, token: OAuthToken) -> str:
    assert token.encrypted_refresh_token is not None
    return unseal(
        vault_for(settings),
        "oauth_tokens",
        "encrypted_refresh_token",
        token.venue_id,
        "quickbooks",
        token.encrypted_refresh_token,
    )


async def _expire(database: Database, venue: uuid.UUID) -> None:
    async with database.engine.begin() as conn:
        await conn.execute(
            update(OAuthToken)
            .where(OAuthToken.venue_id == venue)
            .values(expires_at=func.now() - text("interval '1 minute'"))
        )


async def _race_process(
    sandbox: Sandbox,
    settings: Settings,
    venue: uuid.UUID,
    start_at: float,
    uses: int,
    *extra: str,
) -> tuple[int | None, str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "DATABASE_URL": settings.sqlalchemy_url() or "",
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "WARNING",
        **{k.upper(): str(v) for k, v in provider_settings(sandbox).items()},
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integrations.refresh_race_client",
        str(venue),
        str(start_at),
        str(uses),
        *extra,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


async def test_twenty_uses_from_two_processes_make_one_refresh(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    sandbox: Sandbox,
    database: Database,
    clients: ProviderClients,
    integration_settings: Settings,
) -> None:
    venue = await _connect_quickbooks(client, token_for)
    before = await _stored(database, venue)
    await _expire(database, venue)
    requests_before = sandbox.quickbooks_token_requests()

    start_at = time.time() + 4.0  # both processes imported and connected by then
    runs = await asyncio.gather(
        *(_race_process(sandbox, integration_settings, venue, start_at, 10) for _ in range(2))
    )
    results = []
    for returncode, out, err in runs:
        assert returncode == 0, err[-2000:]
        results += json.loads(out.strip().splitlines()[-1])

    assert len(results) == 20
    assert all(r["ok"] for r in results), results
    assert sandbox.quickbooks_token_requests() - requests_before == 1
    assert len({r["token"] for r in results}) == 1  # everyone used the one new access token

    after = await _stored(database, venue)
    assert after.refresh_generation == before.refresh_generation + 1
    assert after.refresh_lease_owner is None
    newest = _refresh_token(integration_settings, after)
    assert newest != _refresh_token(integration_settings, before)
    # The newest: with no grace for superseded tokens, only the head of the chain refreshes.
    sandbox.control("/quickbooks/_sandbox/refresh-grace", {"seconds": 0})
    try:
        grant = await (await clients.get("quickbooks")).refresh(refresh_token=newest)
        assert grant.refresh_token
    finally:
        sandbox.control("/quickbooks/_sandbox/refresh-grace", {"seconds": 86400})


async def test_a_lost_refresh_answer_does_not_lose_the_connection(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    sandbox: Sandbox,
    database: Database,
    clients: ProviderClients,
    integration_settings: Settings,
) -> None:
    venue = await _connect_quickbooks(client, token_for)
    stored = await _stored(database, venue)
    await _expire(database, venue)
    requests_before = sandbox.quickbooks_token_requests()
    # A process refreshes and is killed the moment QuickBooks answered: the new pair is lost,
    # the stored refresh token is now superseded at the provider.
    returncode, _, _ = await _race_process(
        sandbox, integration_settings, venue, time.time(), 1, "die"
    )
    assert returncode == 9
    assert sandbox.quickbooks_token_requests() == requests_before + 1
    dead = await _stored(database, venue)
    assert dead.refresh_generation == stored.refresh_generation  # nothing written
    assert dead.refresh_lease_owner is not None  # its lease is left behind
    async with database.engine.begin() as conn:  # ... until it lapses (45 s, skipped here)
        await conn.execute(
            update(OAuthToken)
            .where(OAuthToken.id == stored.id)
            .values(refresh_lease_expires_at=func.now() - text("interval '1 second'"))
        )
    # The next use refreshes again with the stored (superseded) token: QuickBooks' grace for
    # the previous refresh token keeps the connection.
    credentials = await creds.access_credentials(database, venue, "quickbooks", clients=clients)
    assert (await (await clients.get("quickbooks")).check(credentials)).ok
    after = await _stored(database, venue)
    assert after.refresh_generation == stored.refresh_generation + 1
    assert after.refresh_lease_owner is None


async def test_invalid_grant_marks_the_connection_error_and_stops(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    sandbox: Sandbox,
    database: Database,
    clients: ProviderClients,
    integration_settings: Settings,
) -> None:
    venue = await _connect_quickbooks(client, token_for)
    stored = await _stored(database, venue)
    quickbooks = await clients.get("quickbooks")
    sandbox.control("/quickbooks/_sandbox/refresh-grace", {"seconds": 0})
    try:
        # Someone else used the refresh token: the stored one is superseded at once.
        await quickbooks.refresh(refresh_token=_refresh_token(integration_settings, stored))
        await _expire(database, venue)
        with pytest.raises(ConnectionBroken, match="invalid_grant"):
            await creds.access_credentials(database, venue, "quickbooks", clients=clients)
    finally:
        sandbox.control("/quickbooks/_sandbox/refresh-grace", {"seconds": 86400})
    async with AsyncSession(database.engine) as session:
        config = await session.scalar(
            select(IntegrationConfig).where(IntegrationConfig.venue_id == venue)
        )
    assert config is not None and config.status == "error"
    assert config.last_error and "invalid_grant" in config.last_error
    requests = sandbox.quickbooks_token_requests()
    with pytest.raises(ConnectionBroken):
        await creds.access_credentials(database, venue, "quickbooks", clients=clients)
    assert sandbox.quickbooks_token_requests() == requests  # not retried
    headers = auth_header(token_for("venue_admin", venue_ids=[str(venue)]))
    shown = await client.get(f"{BASE}/quickbooks", params={"venue_id": str(venue)}, headers=headers)
    assert shown.json()["data"]["status"] == "error"
    forced = await client.post(
        f"{BASE}/oauth/refresh/quickbooks", json={"venue_id": str(venue)}, headers=headers
    )
    assert forced.status_code == 409 and forced.json()["code"] == "CONFLICT"
    # Reconnecting starts a new consent flow.
    again = await client.post(
        f"{BASE}/quickbooks/reconnect", json={"venue_id": str(venue)}, headers=headers
    )
    assert again.json()["data"]["status"] == "connecting"


async def test_a_slow_refresh_overtaken_cannot_overwrite_the_newer_pair(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    database: Database,
    clients: ProviderClients,
    integration_settings: Settings,
) -> None:
    venue = await _connect_quickbooks(client, token_for)
    stored = await _stored(database, venue)
    slow = uuid.uuid4()
    leased = await creds._take_lease(database.engine, stored.id, slow)
    assert leased is not None
    async with database.engine.begin() as conn:  # it outlives its lease
        await conn.execute(
            update(OAuthToken)
            .where(OAuthToken.id == stored.id)
            .values(refresh_lease_expires_at=OAuthToken.created_at)
        )
    await creds.access_credentials(
        database, venue, "quickbooks", clients=clients, force_refresh=True
    )
    newer = await _stored(database, venue)
    assert newer.refresh_generation == stored.refresh_generation + 1
    # The slow one's provider call still succeeds (QuickBooks' grace), but its write is fenced.
    written = await creds._refresh_under_lease(
        database.engine, vault_for(integration_settings), clients, leased, slow
    )
    assert written is None
    final = await _stored(database, venue)
    assert final.refresh_generation == newer.refresh_generation
    assert final.encrypted_access_token == newer.encrypted_access_token
    assert final.encrypted_refresh_token == newer.encrypted_refresh_token


async def test_the_background_refresher_renews_tokens_before_they_expire(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    database: Database,
    clients: ProviderClients,
) -> None:
    venue = await _connect_quickbooks(client, token_for)
    stored = await _stored(database, venue)
    async with database.engine.begin() as conn:  # five minutes left
        await conn.execute(
            update(OAuthToken)
            .where(OAuthToken.id == stored.id)
            .values(expires_at=func.now() + text("interval '5 minutes'"))
        )
    refreshed = await creds.refresh_due_tokens(
        database.engine, clients, ahead=timedelta(minutes=10)
    )
    assert refreshed >= 1
    after = await _stored(database, venue)
    assert after.refresh_generation == stored.refresh_generation + 1
    assert after.expires_at is not None and stored.expires_at is not None
    assert after.expires_at > stored.expires_at
    # Nothing left to do for it now.
    again = await _stored(database, venue)
    await creds.refresh_due_tokens(database.engine, clients, ahead=timedelta(minutes=10))
    assert (await _stored(database, venue)).refresh_generation == again.refresh_generation
