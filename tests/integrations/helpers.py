"""Helpers of the integration service's tests (imported once, as a normal module: a conftest
may be imported twice under two names, and its random values with it)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from tests.support import TEST_JWT_SECRET

SANDBOX_KEY = "sk_test_integrations"
CONTROL = {"Authorization": f"Bearer {SANDBOX_KEY}"}
# The session's vault key, the same in every process the tests start.
VAULT_KEY = base64.b64encode(hashlib.sha256(f"vault:{TEST_JWT_SECRET}".encode()).digest()).decode()
API_URL = "https://platform.example"


@dataclass
class Sandbox:
    url: str
    index: dict[str, Any]

    def control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = httpx.post(f"{self.url}{path}", headers=CONTROL, json=body or {})
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def quickbooks_token_requests(self) -> int:
        stats = httpx.get(f"{self.url}/quickbooks/_sandbox/stats", headers=CONTROL).json()
        return int(stats["token_requests"])


def provider_settings(sandbox: Sandbox) -> dict[str, Any]:
    """Settings values that point every provider at the sandbox."""
    index = sandbox.index
    stripe, square = index["stripe"], index["square"]
    mailchimp, quickbooks = index["mailchimp"], index["quickbooks"]
    return {
        "api_url": API_URL,
        "encryption_key": f"1:{VAULT_KEY}",
        "stripe_secret_key": SANDBOX_KEY,
        "stripe_base_url": stripe["api_base_url"],
        "stripe_connect_base_url": stripe["oauth_base_url"],
        "stripe_connect_client_id": stripe["connect_client_id"],
        "square_app_id": square["application_id"],
        "square_app_secret": square["application_secret"],
        "square_base_url": square["api_base_url"],
        "mailchimp_client_id": mailchimp["oauth_client_id"],
        "mailchimp_client_secret": mailchimp["oauth_client_secret"],
        "mailchimp_base_url": mailchimp["api_endpoint"],
        "mailchimp_api_base_url": mailchimp["api_endpoint"],
        "quickbooks_client_id": quickbooks["client_id"],
        "quickbooks_client_secret": quickbooks["client_secret"],
        "quickbooks_base_url": quickbooks["api_base_url"].removesuffix("/v3"),
        "quickbooks_discovery_url": quickbooks["discovery_url"],
    }


async def approve(authorize_url: str, **extra: str) -> dict[str, str]:
    """Open the authorize URL as the venue admin's browser would: the callback's parameters."""
    url = httpx.URL(authorize_url)
    for name, value in extra.items():
        url = url.copy_add_param(name, value)
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(url)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(f"{API_URL}/api/v1/integrations/oauth/callback/"), location
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}
