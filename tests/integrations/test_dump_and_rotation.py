"""After connecting all four providers (API keys and OAuth), a pg_dump of the database holds none
of the tokens or keys in plaintext; ``vault rotate`` then leaves every row on the new key version
and every connection still works with only the new key configured."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from tests.integrations.helpers import SANDBOX_KEY, VAULT_KEY, Sandbox, approve, provider_settings
from tests.support import auth_header, make_settings, migrated_scratch_database, running_app

from tickettoken.integrations.connections.clients import ProviderClients
from tickettoken.integrations.connections.credentials import access_credentials
from tickettoken.integrations.models import OAuthToken, VenueApiKey
from tickettoken.integrations.vault.rotate import rotate
from tickettoken.kit.db import Database
from tickettoken.kit.vault import vault_for

BASE = "/api/v1/integrations"
NEW_KEY = base64.b64encode(hashlib.sha256(f"rotated:{VAULT_KEY}".encode()).digest()).decode()


@pytest.fixture(scope="module")
async def dump_db(pg_server_url: str) -> AsyncIterator[str]:
    async with migrated_scratch_database(pg_server_url, "tt_integ_dump") as url:
        yield url


def _pg_dump(url: str) -> str:
    parts = urlsplit(url.replace("postgresql+asyncpg://", "postgresql://"))
    command = ["pg_dump", "--data-only", "-h", parts.hostname or "127.0.0.1"]
    command += ["-p", str(parts.port or 5432), "-U", parts.username or "postgres"]
    env = {**os.environ, "PGPASSWORD": parts.password or ""}
    done = subprocess.run(
        [*command, parts.path.lstrip("/")], env=env, check=True, capture_output=True, text=True
    )
    return done.stdout


async def test_dump_then_rotate_with_all_four_connected(
    dump_db: str, redis_url: str, sandbox: Sandbox, token_for: Callable[..., str]
) -> None:
    from tickettoken.integrations.app import create_app

    values = provider_settings(sandbox)
    settings = make_settings(database_url=dump_db, redis_url=redis_url, **values)
    venue = uuid.uuid4()
    headers = auth_header(token_for("venue_admin", venue_ids=[str(venue)]))
    mailchimp_key = sandbox.index["mailchimp"]["api_key"]
    async with running_app(create_app(settings)) as client:
        stripe = await client.post(
            f"{BASE}/stripe/api-key",
            json={"venueId": str(venue), "apiKey": SANDBOX_KEY},
            headers=headers,
        )
        assert stripe.status_code == 200, stripe.text
        mailchimp = await client.post(
            f"{BASE}/connect/mailchimp",
            json={"venueId": str(venue), "credentials": {"apiKey": mailchimp_key}},
            headers=headers,
        )
        assert mailchimp.status_code == 200, mailchimp.text
        oauth_venue = uuid.uuid4()  # Stripe and Mailchimp by OAuth too, on a second venue
        oauth_headers = auth_header(token_for("venue_admin", venue_ids=[str(oauth_venue)]))
        for provider, who, where in (
            ("square", headers, venue),
            ("quickbooks", headers, venue),
            ("stripe", oauth_headers, oauth_venue),
            ("mailchimp", oauth_headers, oauth_venue),
        ):
            started = await client.post(
                f"{BASE}/connect/{provider}", json={"venue_id": str(where)}, headers=who
            )
            params = await approve(started.json()["data"]["authorization_url"])
            done = await client.get(f"{BASE}/oauth/callback/{provider}", params=params)
            assert done.status_code == 200, done.text

    plaintexts = {"stripe key": SANDBOX_KEY, "mailchimp key": mailchimp_key}
    database = Database(dump_db)
    clients = ProviderClients(settings)
    try:
        async with AsyncSession(database.engine) as session:
            tokens = (await session.scalars(select(OAuthToken))).all()
            keys = (await session.scalars(select(VenueApiKey))).all()
        assert len(tokens) == 4 and len(keys) == 2
        vault = vault_for(settings)
        from tickettoken.integrations.vault.sealed import unseal_optional

        for token in tokens:
            for column in ("encrypted_access_token", "encrypted_refresh_token"):
                secret = unseal_optional(
                    vault,
                    "oauth_tokens",
                    column,
                    token.venue_id,
                    token.integration_type,
                    getattr(token, column),
                )
                if secret:
                    plaintexts[f"{token.integration_type} {column}"] = secret
        assert len(plaintexts) >= 8

        dump = await asyncio.to_thread(_pg_dump, dump_db)
        leaked = [label for label, secret in plaintexts.items() if secret in dump]
        assert not leaked, f"plaintext in pg_dump: {leaked}"

        rotated_settings = settings.model_copy(
            update={"encryption_key": f"2:{NEW_KEY},1:{VAULT_KEY}"}
        )
        report = await rotate(database.engine, vault_for(rotated_settings))
        assert report.rewritten == {"oauth_tokens": 4, "venue_api_keys": 2}
    finally:
        await clients.aclose()

    only_new = settings.model_copy(update={"encryption_key": f"2:{NEW_KEY}"})
    new_clients = ProviderClients(only_new)
    try:
        async with AsyncSession(database.engine) as session:
            versions = set((await session.scalars(select(OAuthToken.encryption_key_version))).all())
            versions |= set(
                (await session.scalars(select(VenueApiKey.encryption_key_version))).all()
            )
        assert versions == {2}
        for where, provider in (
            (venue, "stripe"),
            (venue, "mailchimp"),
            (venue, "square"),
            (venue, "quickbooks"),
            (oauth_venue, "stripe"),
            (oauth_venue, "mailchimp"),
        ):
            credentials = await access_credentials(database, where, provider, clients=new_clients)
            check = await (await new_clients.get(provider)).check(credentials)
            assert check.ok, (provider, check)
        dump = await asyncio.to_thread(_pg_dump, dump_db)
        assert not [label for label, secret in plaintexts.items() if secret in dump]
    finally:
        await new_clients.aclose()
        await database.dispose()
