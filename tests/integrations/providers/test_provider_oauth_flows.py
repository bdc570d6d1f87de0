"""For each provider: authorize URL → the sandbox's approve redirect (followed with httpx, no
browser) → code exchange → a live check; refresh; refusals as ``OAuthRefused``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.integrations.providers.provider_support import Recorder, approve, control, redirect_uri

from tickettoken.integrations.providers import (
    PROVIDERS,
    Credentials,
    OAuthRefused,
    Provider,
    build_provider,
)
from tickettoken.kit.settings import Settings


async def _connect(
    provider: Provider, settings: Settings, **extra: str
) -> tuple[Any, dict[str, str]]:
    await provider.prepare()
    uri = redirect_uri(settings, provider.name)
    url = provider.authorize_url(state="st-42", redirect_uri=uri)
    callback = await approve(url, **extra)
    assert callback.get("state") == "st-42"
    grant = await provider.exchange_code(
        code=callback["code"], redirect_uri=uri, callback_params=callback
    )
    return grant, callback


def test_build_provider_names(provider_settings: Settings) -> None:
    assert PROVIDERS == ("square", "stripe", "mailchimp", "quickbooks")
    with pytest.raises(KeyError):
        build_provider("paypal", provider_settings)


async def test_stripe_connect(
    make_provider: Callable[..., Provider], provider_settings: Settings, recorder: Recorder
) -> None:
    stripe = make_provider("stripe")
    assert stripe.auth_kinds == {"api_key", "oauth"}
    grant, _ = await _connect(stripe, provider_settings)
    assert grant.extras["stripe_user_id"].startswith("acct_")
    assert grant.expires_at is None and grant.refresh_token
    assert grant.access_token not in repr(grant) and str(grant.refresh_token) not in repr(grant)
    check = await stripe.check(Credentials(access_token=grant.access_token, venue_id="v1"))
    assert check.ok and check.account_id == grant.extras["stripe_user_id"]
    refreshed = await stripe.refresh(refresh_token=str(grant.refresh_token))
    assert refreshed.access_token != grant.access_token
    assert refreshed.extras["stripe_user_id"] == grant.extras["stripe_user_id"]
    with pytest.raises(OAuthRefused) as refused:
        await stripe.refresh(refresh_token="rt_not-a-token")
    assert refused.value.error == "invalid_grant"
    assert "rt_not-a-token" not in str(refused.value)
    bad = await stripe.check(Credentials(api_key="sk_test_wrong-key-1234"))
    assert not bad.ok and bad.status == 401
    assert "wrong-key" not in (bad.detail or "")
    assert {"oauth.token", "account.retrieve", "oauth.refresh"} <= set(recorder.endpoints())
    assert any(r.venue_id == "v1" for r in recorder.records)


async def test_stripe_api_key_check(make_provider: Callable[..., Provider]) -> None:
    stripe = make_provider("stripe")
    check = await stripe.check(Credentials(api_key="sk_test_providers"))
    assert check.ok and check.account_id and check.account_id.startswith("acct_")


async def test_square_oauth(
    make_provider: Callable[..., Provider], provider_settings: Settings
) -> None:
    square = make_provider("square")
    grant, _ = await _connect(square, provider_settings)
    merchant = grant.extras["merchant_id"]
    assert grant.expires_at is not None
    assert grant.expires_at - datetime.now(UTC) > timedelta(days=29)
    check = await square.check(Credentials(access_token=grant.access_token, extras=grant.extras))
    assert check.ok and check.account_id == merchant
    refreshed = await square.refresh(refresh_token=str(grant.refresh_token))
    assert refreshed.refresh_token == grant.refresh_token  # code flow: the same one
    assert refreshed.extras["merchant_id"] == merchant
    with pytest.raises(OAuthRefused) as refused:
        await square.refresh(refresh_token="EQAAEnot-a-token")
    assert refused.value.error == "invalid_grant"
    bad = await square.check(Credentials(access_token="EAAAnot-a-token"))
    assert not bad.ok and bad.status == 401 and bad.code == "UNAUTHORIZED"


async def test_mailchimp_oauth_and_api_key(
    make_provider: Callable[..., Provider],
    provider_settings: Settings,
    sandbox_index: dict[str, Any],
) -> None:
    mailchimp = make_provider("mailchimp")
    grant, _ = await _connect(mailchimp, provider_settings)
    info = sandbox_index["mailchimp"]
    assert grant.extras["dc"] == info["dc"]
    assert grant.extras["api_endpoint"] == info["api_endpoint"]
    assert grant.expires_at is None and grant.refresh_token is None
    check = await mailchimp.check(Credentials(access_token=grant.access_token, extras=grant.extras))
    assert check.ok and check.account_id
    by_key = await mailchimp.check(Credentials(api_key=info["api_key"]))
    assert by_key.ok and by_key.account_id == check.account_id
    wrong = await mailchimp.check(Credentials(api_key="0123456789abcdef-us1"))
    assert not wrong.ok and wrong.status == 401
    assert "0123456789abcdef" not in (wrong.detail or "")
    with pytest.raises(OAuthRefused):
        await mailchimp.refresh(refresh_token="none")


async def test_quickbooks_oauth_rotation_and_invalid_grant(
    make_provider: Callable[..., Provider], provider_settings: Settings, sandbox_url: str
) -> None:
    quickbooks = make_provider("quickbooks")
    grant, callback = await _connect(quickbooks, provider_settings)
    assert grant.extras["realm_id"] == callback["realmId"]
    assert grant.expires_at is not None
    assert timedelta(minutes=59) < grant.expires_at - datetime.now(UTC) <= timedelta(hours=1)
    assert grant.refresh_expires_at is not None
    credentials = Credentials(access_token=grant.access_token, extras=grant.extras)
    check = await quickbooks.check(credentials)
    assert check.ok and check.account_id == grant.extras["realm_id"] and check.account_name
    rotated = await quickbooks.refresh(refresh_token=str(grant.refresh_token))
    assert rotated.refresh_token != grant.refresh_token
    # Within Intuit's grace the previous token still answers (the newest of its chain) ...
    again = await quickbooks.refresh(refresh_token=str(grant.refresh_token))
    assert again.refresh_token == rotated.refresh_token
    # ... and after it, invalid_grant.
    control(sandbox_url, "/quickbooks/_sandbox/refresh-grace", {"seconds": 0})
    try:
        with pytest.raises(OAuthRefused) as refused:
            await quickbooks.refresh(refresh_token=str(grant.refresh_token))
        assert refused.value.error == "invalid_grant" and refused.value.status == 400
        newest = await quickbooks.refresh(refresh_token=str(rotated.refresh_token))
    finally:
        control(sandbox_url, "/quickbooks/_sandbox/refresh-grace", {"seconds": 86400})
    fresh = Credentials(access_token=newest.access_token, extras=grant.extras)
    assert (await quickbooks.check(fresh)).ok
    control(sandbox_url, "/quickbooks/_sandbox/expire", {"access_token": newest.access_token})
    expired = await quickbooks.check(fresh)
    assert not expired.ok and expired.status == 401


@pytest.mark.parametrize("name", ["stripe", "square", "mailchimp", "quickbooks"])
async def test_denied_consent_is_refused(
    name: str, make_provider: Callable[..., Provider], provider_settings: Settings
) -> None:
    provider = make_provider(name)
    await provider.prepare()
    uri = redirect_uri(provider_settings, name)
    callback = await approve(provider.authorize_url(state="s", redirect_uri=uri), deny="1")
    assert callback["error"] == "access_denied"
    with pytest.raises(OAuthRefused) as refused:
        await provider.exchange_code(code="", redirect_uri=uri, callback_params=callback)
    assert refused.value.error == "access_denied"
