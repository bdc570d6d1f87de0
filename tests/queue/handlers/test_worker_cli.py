"""``tickettoken up`` gets the sandbox and a worker; provider settings default to the sandbox."""

from __future__ import annotations

from tickettoken.queue.worker_cli import platform_processes


def test_up_points_unset_providers_at_the_sandbox() -> None:
    env: dict[str, str] = {"SMS_API_URL": "https://sms.example"}
    children = platform_processes(env, "0.0.0.0", port_offset=100)
    assert [child.name for child in children] == ["sandbox", "worker"]
    assert env["STRIPE_BASE_URL"] == "http://127.0.0.1:3190"
    assert env["SANDBOX_URL"] == "http://127.0.0.1:3190"  # what `up` prints
    assert env["MAILCHIMP_BASE_URL"] == "http://127.0.0.1:3190/mailchimp"
    assert env["MAILCHIMP_CLIENT_ID"] and env["MAILCHIMP_CLIENT_SECRET"]
    assert env["STRIPE_SECRET_KEY"].startswith("sk_")
    assert env["SMS_API_URL"] == "https://sms.example"  # configured: kept
    assert env["SMTP_PORT"] == "2625"
    assert "--smtp-port" in children[0].argv


def test_a_configured_stripe_account_is_kept() -> None:
    env = {"STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_BASE_URL": "https://api.stripe.com"}
    platform_processes(env, "127.0.0.1")
    assert env["STRIPE_BASE_URL"] == "https://api.stripe.com"
