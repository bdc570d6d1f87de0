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


async def test_every_provider_gets_what_the_sandbox_with_that_key_serves() -> None:
    """Client ids, secrets and URLs come from the sandbox's own ``GET /`` document."""
    import httpx

    from tickettoken.sandbox.app import create_sandbox_app

    env: dict[str, str] = {}
    platform_processes(env, "127.0.0.1")
    app = create_sandbox_app(secret_key=env["SANDBOX_SECRET_KEY"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=env["SANDBOX_URL"]) as client:
        index = (await client.get("/")).json()["providers"]
    assert env["STRIPE_CONNECT_CLIENT_ID"] == index["stripe"]["connect_client_id"]
    assert env["SQUARE_APP_ID"] == index["square"]["application_id"]
    assert env["SQUARE_BASE_URL"] == f"{env['SANDBOX_URL']}/square"
    assert env["QUICKBOOKS_CLIENT_SECRET"] == index["quickbooks"]["client_secret"]
    assert env["QUICKBOOKS_DISCOVERY_URL"] == index["quickbooks"]["discovery_url"]
    assert env["MAILCHIMP_API_BASE_URL"] == index["mailchimp"]["api_endpoint"]


def test_a_configured_quickbooks_app_is_kept() -> None:
    env = {"QUICKBOOKS_CLIENT_ID": "real-app"}
    platform_processes(env, "127.0.0.1")
    assert env["QUICKBOOKS_CLIENT_ID"] == "real-app"
    assert "QUICKBOOKS_DISCOVERY_URL" not in env
    assert env["SQUARE_APP_ID"].startswith("sandbox-sq0idb-")


def test_up_subscribes_the_platform_to_the_sandboxes_webhooks() -> None:
    env: dict[str, str] = {}
    platform_processes(env, "127.0.0.1", port_offset=100)
    assert env["API_URL"] == "http://127.0.0.1:3100"  # the gateway, with the offset
    hooks = "http://127.0.0.1:3100/api/v1/integrations/webhooks"
    assert env["SANDBOX_STRIPE_WEBHOOK_URL"] == f"{hooks}/stripe"
    assert env["SANDBOX_SQUARE_WEBHOOK_URL"] == f"{hooks}/square"
    assert env["SANDBOX_QUICKBOOKS_WEBHOOK_URL"] == f"{hooks}/quickbooks"
