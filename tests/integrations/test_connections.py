"""Connections over HTTP against the real database and the sandbox: attacks first (another venue,
stale, replayed or foreign OAuth state, secrets in answers and logs), then each provider's way in.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from tests.integrations.helpers import SANDBOX_KEY, Sandbox, approve
from tests.support import auth_header

from tickettoken.integrations.connections.oauth_state import state_hash
from tickettoken.integrations.models import IntegrationConfig, OAuthState, OAuthToken, VenueApiKey
from tickettoken.integrations.vault.sealed import unseal_optional
from tickettoken.kit.settings import Settings
from tickettoken.kit.vault import vault_for

BASE = "/api/v1/integrations"


def venue_admin(token_for: Callable[..., str], venue: uuid.UUID, **claims: Any) -> dict[str, str]:
    return auth_header(token_for("venue_admin", venue_ids=[str(venue)], **claims))


async def _count(settings: Settings, model: Any, venue: uuid.UUID) -> int:
    engine = create_async_engine(settings.sqlalchemy_url() or "")
    try:
        async with AsyncSession(engine) as session:
            found = await session.scalar(
                select(func.count()).select_from(model).where(model.venue_id == venue)
            )
    finally:
        await engine.dispose()
    return int(found or 0)


async def _start_oauth(
    client: httpx.AsyncClient, headers: dict[str, str], venue: uuid.UUID, provider: str
) -> dict[str, Any]:
    answer = await client.post(
        f"{BASE}/connect/{provider}", json={"venueId": str(venue)}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    assert data["status"] == "connecting" and data["authorization_url"].startswith("http")
    return data


# --- attacks -----------------------------------------------------------------------------------


async def test_another_venues_integration_is_not_found(
    client: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    owner = venue_admin(token_for, theirs)
    connected = await client.post(
        f"{BASE}/stripe/api-key",
        json={"venue_id": str(theirs), "api_key": SANDBOX_KEY},
        headers=owner,
    )
    assert connected.status_code == 200, connected.text
    intruder = venue_admin(token_for, mine)
    for method, path, body in (
        ("GET", f"/stripe?venue_id={theirs}", None),
        ("GET", f"/?venue_id={theirs}", None),
        ("POST", "/stripe/disconnect", {"venue_id": str(theirs)}),
        ("POST", "/stripe/reconnect", {"venue_id": str(theirs)}),
        ("POST", "/stripe/api-key", {"venue_id": str(theirs), "api_key": "sk_test_attacker1"}),
        ("POST", "/connect/quickbooks", {"venue_id": str(theirs)}),
        ("POST", "/oauth/refresh/stripe", {"venue_id": str(theirs)}),
    ):
        answer = await client.request(method, f"{BASE}{path}", json=body, headers=intruder)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["code"] == "NOT_FOUND"
    # Staff of the venue may read, not change.
    staff = auth_header(token_for("venue_staff", venue_ids=[str(theirs)]))
    assert (await client.get(f"{BASE}/stripe?venue_id={theirs}", headers=staff)).status_code == 200
    refused = await client.post(
        f"{BASE}/stripe/disconnect", json={"venue_id": str(theirs)}, headers=staff
    )
    assert refused.status_code == 404
    # Still connected, with the owner's key.
    view = (
        await client.get(f"{BASE}/stripe", params={"venue_id": str(theirs)}, headers=owner)
    ).json()
    assert view["data"]["status"] == "connected"
    assert (await client.get(f"{BASE}/stripe?venue_id={theirs}")).status_code == 401


async def test_state_replayed_stale_foreign_or_missing_stores_nothing(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    integration_settings: Settings,
) -> None:
    venue, other = uuid.uuid4(), uuid.uuid4()
    headers = venue_admin(token_for, venue)
    started = await _start_oauth(client, headers, venue, "quickbooks")
    params = await approve(started["authorization_url"])
    callback = f"{BASE}/oauth/callback/quickbooks"

    missing = await client.get(callback, params={k: v for k, v in params.items() if k != "state"})
    assert missing.status_code == 400 and missing.json()["code"] == "BAD_REQUEST"
    forged = await client.get(callback, params={**params, "state": "x" * 43})
    assert forged.status_code == 400
    other_provider = await client.get(f"{BASE}/oauth/callback/square", params=params)
    assert other_provider.status_code == 400
    other_venue = await client.get(callback, params={**params, "venue_id": str(other)})
    assert other_venue.status_code == 400
    other_user = await client.get(
        callback, params=params, headers=venue_admin(token_for, venue, sub="someone-else")
    )
    assert other_user.status_code == 400
    assert await _count(integration_settings, OAuthToken, venue) == 0

    # Stale: the same flow, its state aged past ten minutes.
    stale_flow = await _start_oauth(client, headers, venue, "quickbooks")
    stale_params = await approve(stale_flow["authorization_url"])
    engine = create_async_engine(integration_settings.sqlalchemy_url() or "")
    try:
        async with engine.begin() as conn:
            await conn.execute(
                update(OAuthState)
                .where(OAuthState.state == state_hash(stale_params["state"]))
                .values(expires_at=func.now() - func.make_interval(0, 0, 0, 0, 0, 0, 1))
            )
    finally:
        await engine.dispose()
    stale = await client.get(callback, params=stale_params)
    assert stale.status_code == 400
    assert await _count(integration_settings, OAuthToken, venue) == 0

    # The first valid use connects; the replay is refused and changes nothing.
    first = await client.get(callback, params=params)
    assert first.status_code == 200, first.text
    assert first.json()["data"]["account"]["realm_id"] == params["realmId"]
    replay = await client.get(callback, params=params)
    assert replay.status_code == 400
    assert await _count(integration_settings, OAuthToken, venue) == 1


async def test_secrets_never_in_answers_or_logs(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    sandbox: Sandbox,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    integration_settings: Settings,
) -> None:
    venue = uuid.uuid4()
    headers = venue_admin(token_for, venue)
    mailchimp_key = sandbox.index["mailchimp"]["api_key"]
    caplog.set_level(logging.DEBUG)
    answers = [
        await client.post(
            f"{BASE}/connect/mailchimp",
            json={"venueId": str(venue), "credentials": {"apiKey": mailchimp_key}},
            headers=headers,
        )
    ]
    assert answers[0].status_code == 200, answers[0].text
    flow_secrets: list[str] = []
    for provider in ("stripe", "square", "quickbooks"):
        flow = await _start_oauth(client, headers, venue, provider)
        params = await approve(flow["authorization_url"])
        answers.append(await client.get(f"{BASE}/oauth/callback/{provider}", params=params))
        assert answers[-1].status_code == 200, answers[-1].text
        flow_secrets += [params["code"], params["state"]]
    answers.append(
        await client.post(
            f"{BASE}/oauth/refresh/quickbooks", json={"venueId": str(venue)}, headers=headers
        )
    )
    answers.append(await client.get(f"{BASE}/", params={"venue_id": str(venue)}, headers=headers))
    refused = await client.post(
        f"{BASE}/stripe/api-key",
        json={"venue_id": str(venue), "api_key": "sk_test_wrong_key_123"},
        headers=headers,
    )
    assert refused.status_code == 400 and refused.json()["code"] == "BAD_REQUEST"
    answers.append(refused)
    assert all(a.status_code < 500 for a in answers)
    # Every log line but httpx's request lines (the test's browser follows the redirect that
    # carries the code and state; httpx logs URLs, never bodies, for the platform's calls).
    logged = "\n".join(
        f"{r.getMessage()} {r.__dict__}" for r in caplog.records if r.name != "httpx"
    )
    text = " ".join(a.text for a in answers) + logged + "".join(capsys.readouterr())
    secrets = [mailchimp_key, *flow_secrets, "sk_test_wrong_key_123"]
    engine_tokens = await _stored_secrets(integration_settings, venue)
    assert engine_tokens, "the connections stored tokens"
    for secret in secrets + engine_tokens:
        at = text.find(secret)
        assert at < 0, text[max(0, at - 300) : at + 100]
    # Nothing sealed shows either.
    assert "v1:" not in " ".join(a.text for a in answers)


async def _stored_secrets(settings: Settings, venue: uuid.UUID) -> list[str]:
    """The plaintexts of every token and key stored for the venue (through the vault)."""
    vault = vault_for(settings)
    engine = create_async_engine(settings.sqlalchemy_url() or "")
    try:
        async with AsyncSession(engine) as session:
            tokens = (
                await session.scalars(select(OAuthToken).where(OAuthToken.venue_id == venue))
            ).all()
            keys = (
                await session.scalars(select(VenueApiKey).where(VenueApiKey.venue_id == venue))
            ).all()
    finally:
        await engine.dispose()
    found: list[str | None] = []
    for token in tokens:
        for column in ("encrypted_access_token", "encrypted_refresh_token"):
            found.append(
                unseal_optional(
                    vault,
                    "oauth_tokens",
                    column,
                    venue,
                    token.integration_type,
                    getattr(token, column),
                )
            )
    for key in keys:
        found.append(
            unseal_optional(
                vault,
                "venue_api_keys",
                "encrypted_api_key",
                venue,
                key.integration_type,
                key.encrypted_api_key,
            )
        )
    assert len(tokens) == 3 and len(keys) == 1
    return [secret for secret in found if secret]


# --- each provider's way in --------------------------------------------------------------------


async def test_api_key_providers_connect_after_a_live_check(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    sandbox: Sandbox,
    integration_settings: Settings,
) -> None:
    venue = uuid.uuid4()
    headers = venue_admin(token_for, venue)
    stripe = await client.post(
        f"{BASE}/connect/stripe",
        json={"venueId": str(venue), "apiKey": SANDBOX_KEY},
        headers=headers,
    )
    assert stripe.status_code == 200, stripe.text
    assert stripe.json()["data"]["status"] == "connected"
    assert stripe.json()["data"]["auth"] == "api_key"
    wrong = await client.post(
        f"{BASE}/mailchimp/api-key",
        json={"venueId": str(venue), "apiKey": "0123456789abcdef-us1"},
        headers=headers,
    )
    assert wrong.status_code == 400
    assert await _count(integration_settings, VenueApiKey, venue) == 1  # only Stripe's
    listing = await client.get(f"{BASE}/", params={"venue_id": str(venue)}, headers=headers)
    statuses = {c["provider"]: c["status"] for c in listing.json()["data"]}
    assert statuses == {
        "stripe": "connected",
        "mailchimp": "disconnected",
        "square": "disconnected",
        "quickbooks": "disconnected",
    }
    # Square and QuickBooks take no API key.
    square = await client.post(
        f"{BASE}/square/api-key",
        json={"venueId": str(venue), "apiKey": "EAAAlsomething"},
        headers=headers,
    )
    assert square.status_code == 400

    gone = await client.post(
        f"{BASE}/stripe/disconnect", json={"venueId": str(venue)}, headers=headers
    )
    assert gone.status_code == 200 and gone.json()["data"]["status"] == "disconnected"
    assert await _count(integration_settings, VenueApiKey, venue) == 0
    again = await client.post(
        f"{BASE}/stripe/reconnect", json={"venueId": str(venue)}, headers=headers
    )
    # The key went with the disconnect: Stripe (OAuth too) starts a Connect flow.
    assert again.status_code == 200 and again.json()["data"]["status"] == "connecting"
    # Connected by key, then by Stripe Connect: only the OAuth grant stays.
    await client.post(
        f"{BASE}/stripe/api-key",
        json={"venueId": str(venue), "apiKey": SANDBOX_KEY},
        headers=headers,
    )
    flow = await _start_oauth(client, headers, venue, "stripe")
    done = await client.get(
        f"{BASE}/oauth/callback/stripe", params=await approve(flow["authorization_url"])
    )
    assert done.json()["data"]["auth"] == "oauth"
    assert await _count(integration_settings, VenueApiKey, venue) == 0


@pytest.mark.parametrize(
    ("provider", "extra"),
    [
        ("quickbooks", "realm_id"),
        ("square", "merchant_id"),
        ("stripe", "stripe_user_id"),
        ("mailchimp", "dc"),
    ],
)
async def test_oauth_providers_connect_with_their_extras(
    client: httpx.AsyncClient, token_for: Callable[..., str], provider: str, extra: str
) -> None:
    venue = uuid.uuid4()
    headers = venue_admin(token_for, venue)
    flow = await _start_oauth(client, headers, venue, provider)
    params = await approve(flow["authorization_url"])
    done = await client.get(f"{BASE}/oauth/callback/{provider}", params=params)
    assert done.status_code == 200, done.text
    view = done.json()["data"]
    assert view["status"] == "connected" and view["auth"] == "oauth"
    assert view["account"].get(extra), view
    if provider == "mailchimp":
        assert view["account"].get("api_endpoint")
    shown = await client.get(f"{BASE}/{provider}", params={"venue_id": str(venue)}, headers=headers)
    assert shown.json()["data"]["account"] == view["account"]
    again = await client.post(
        f"{BASE}/{provider}/reconnect", json={"venueId": str(venue)}, headers=headers
    )
    assert again.status_code == 200, again.text


async def test_denied_authorization_is_refused(
    client: httpx.AsyncClient, token_for: Callable[..., str], integration_settings: Settings
) -> None:
    venue = uuid.uuid4()
    headers = venue_admin(token_for, venue)
    flow = await _start_oauth(client, headers, venue, "square")
    params = await approve(flow["authorization_url"], deny="1")
    assert "error" in params
    answer = await client.get(f"{BASE}/oauth/callback/square", params=params)
    assert answer.status_code == 400
    assert await _count(integration_settings, OAuthToken, venue) == 0
    configs = await _count(integration_settings, IntegrationConfig, venue)
    assert configs == 1  # the 'connecting' row only
