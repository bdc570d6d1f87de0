"""Issue 9 end to end: each provider connected through ``tickettoken up`` over HTTP, as a venue
admin and a browser would, through the gateway (the OAuth callback is public there).

Per provider: connect (Stripe and Mailchimp by API key, Square and QuickBooks by the full OAuth
redirect flow, Stripe Connect too), the connection is ``connected`` with its extras, the live
health test succeeds, disconnect and reconnect work, and another venue's admin sees 404.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.conftest import start_platform, stop_platform
from tests.support import TEST_JWT_SECRET, create_scratch_database, drop_scratch_database

from tickettoken.kit.auth import mint_token
from tickettoken.kit.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
OFFSET = 23000
SANDBOX_KEY = "sk_test_e2e_integrations"  # the sandbox's key is also a Stripe secret key there
BASE = "/api/v1/integrations"
EXTRAS = {
    "quickbooks": "realm_id",
    "square": "merchant_id",
    "stripe": "stripe_user_id",
    "mailchimp": "dc",
}


def _venue_admin(venue: uuid.UUID) -> dict[str, str]:
    settings = Settings(_env_file=None, jwt_secret=TEST_JWT_SECRET)  # type: ignore[call-arg]
    token = mint_token(role="venue_admin", settings=settings, venue_ids=[str(venue)])
    return {"Authorization": f"Bearer {token}"}


def _data(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()["data"]


def _oauth(client: httpx.Client, venue: uuid.UUID, provider: str) -> dict[str, Any]:
    """The whole redirect flow: connect, follow the sandbox's approval to the callback."""
    headers = _venue_admin(venue)
    started = _data(
        client.post(f"{BASE}/connect/{provider}", json={"venueId": str(venue)}, headers=headers)
    )
    assert started["status"] == "connecting", started
    approval = httpx.get(started["authorization_url"], follow_redirects=False, timeout=10)
    assert approval.status_code in (302, 303), approval.text
    callback = httpx.get(approval.headers["location"], timeout=30)  # the browser, no token
    view: dict[str, Any] = _data(callback)
    return view


def test_each_provider_connects_tests_and_reconnects_through_up(
    pg_server_url: str, workdir: Path
) -> None:
    database_url = asyncio.run(create_scratch_database(pg_server_url, prefix="tt_e2e_int"))
    gateway = f"http://127.0.0.1:{3000 + OFFSET}"
    platform = start_platform(
        {"DATABASE_URL": database_url, "API_URL": gateway, "SANDBOX_SECRET_KEY": SANDBOX_KEY},
        port_offset=OFFSET,
        workdir=workdir,
    )
    try:
        platform.wait_healthy(["gateway", "event", "integration", "queue"], timeout=90)
        sandbox = httpx.get(f"http://127.0.0.1:{3090 + OFFSET}/", timeout=10).json()["providers"]
        venue, stranger = uuid.uuid4(), uuid.uuid4()
        mine, theirs = _venue_admin(venue), _venue_admin(stranger)
        with httpx.Client(base_url=gateway, timeout=30) as client:
            stripe = _data(
                client.post(
                    f"{BASE}/connect/stripe",
                    json={"venueId": str(venue), "apiKey": SANDBOX_KEY},
                    headers=mine,
                )
            )
            mailchimp = _data(
                client.post(
                    f"{BASE}/mailchimp/api-key",
                    json={"venueId": str(venue), "apiKey": sandbox["mailchimp"]["api_key"]},
                    headers=mine,
                )
            )
            connected = {
                "stripe": stripe,
                "mailchimp": mailchimp,
                "square": _oauth(client, venue, "square"),
                "quickbooks": _oauth(client, venue, "quickbooks"),
            }
            for provider, view in connected.items():
                assert view["status"] == "connected", (provider, view)
                if view.get("auth") == "oauth":
                    assert view["account"].get(EXTRAS[provider]), view
                checked = _data(
                    client.post(
                        f"{BASE}/health/{provider}/test",
                        json={"venueId": str(venue)},
                        params={"venue_id": str(venue)},
                        headers=mine,
                    )
                )
                assert checked["ok"] is True or checked.get("status") == "healthy", checked
                other = client.get(
                    f"{BASE}/{provider}", params={"venue_id": str(venue)}, headers=theirs
                )
                assert other.status_code == 404, other.text

            for provider in ("square", "quickbooks"):
                gone = _data(
                    client.post(
                        f"{BASE}/{provider}/disconnect", json={"venueId": str(venue)}, headers=mine
                    )
                )
                assert gone["status"] == "disconnected"
                again = _data(
                    client.post(
                        f"{BASE}/{provider}/reconnect", json={"venueId": str(venue)}, headers=mine
                    )
                )
                assert again["status"] == "connecting"
                assert _oauth(client, venue, provider)["status"] == "connected"
    finally:
        stop_platform(platform)
        asyncio.run(drop_scratch_database(pg_server_url, database_url))
