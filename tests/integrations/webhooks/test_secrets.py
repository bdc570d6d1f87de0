"""Where the verifier's secrets come from: settings; in development only, the sandbox's own
derivation from SANDBOX_SECRET_KEY (so `tickettoken up` verifies the local sandbox's deliveries
without configuration); elsewhere nothing, and every delivery is refused."""

from __future__ import annotations

import pytest
from tests.integrations.helpers import SANDBOX_KEY, Sandbox
from tests.support import make_settings

from tickettoken.integrations.webhooks import secrets


def test_development_derives_what_the_sandbox_signs_with(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDBOX_SECRET_KEY", SANDBOX_KEY)
    settings = make_settings()
    assert (
        secrets.webhook_secret(settings, "square_webhook_signature_key")
        == (sandbox.index["square"]["webhook_signature_key"])
    )
    assert (
        secrets.webhook_secret(settings, "quickbooks_webhook_token")
        == (sandbox.index["quickbooks"]["webhook_verifier_token"])
    )
    stripe_secret = secrets.webhook_secret(settings, "stripe_webhook_secret")
    assert stripe_secret is not None and stripe_secret.startswith("whsec_")
    configured = make_settings(square_webhook_signature_key="from-settings")
    assert secrets.webhook_secret(configured, "square_webhook_signature_key") == "from-settings"


def test_outside_development_nothing_is_derived(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_SECRET_KEY", SANDBOX_KEY)
    staging = make_settings(environment="staging")
    for name in ("stripe_webhook_secret", "square_webhook_signature_key", "mandrill_webhook_key"):
        assert secrets.webhook_secret(staging, name) is None


def test_signed_urls_are_configured_not_taken_from_the_request() -> None:
    settings = make_settings(api_url="https://api.example/")
    assert secrets.square_notification_url(settings) == (
        "https://api.example/api/v1/integrations/webhooks/square"
    )
    pinned = make_settings(square_webhook_url="https://hooks.example/sq")
    assert secrets.square_notification_url(pinned) == "https://hooks.example/sq"


def test_the_sandbox_configured_stripe_endpoint_uses_the_derived_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tickettoken.sandbox.app import SandboxOptions, create_sandbox_app

    options = SandboxOptions(stripe_webhook_url="http://127.0.0.1:1/hook")
    app = create_sandbox_app(secret_key="sk_test_derivation", options=options)
    monkeypatch.setenv("SANDBOX_SECRET_KEY", "sk_test_derivation")
    ours = secrets.webhook_secret(make_settings(), "stripe_webhook_secret")
    assert app.state.payments.configured["secret"] == ours
