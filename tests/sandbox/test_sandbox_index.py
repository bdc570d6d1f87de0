"""``tickettoken sandbox`` as a process: ``GET /`` lists every provider's base URLs and the
webhook signing secrets in use, and each listed base URL answers as its provider does."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def sandbox_process() -> Iterator[str]:
    port, smtp_port = _port(), _port()
    argv = [
        sys.executable,
        "-m",
        "tickettoken",
        "sandbox",
        "--port",
        str(port),
        "--smtp-port",
        str(smtp_port),
        "--stripe-webhook-url",
        "http://127.0.0.1:9/hook",
        "--stripe-webhook-secret",
        "whsec_configured",
    ]
    env = dict(os.environ, SANDBOX_SECRET_KEY="sk_test_index")
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_index_lists_providers_and_secrets(sandbox_process: str) -> None:
    index = httpx.get(f"{sandbox_process}/").json()
    providers = index["providers"]
    assert {"stripe", "mailchimp", "mandrill"} <= set(providers)
    stripe = providers["stripe"]
    assert stripe["api_base_url"] == sandbox_process
    assert stripe["webhook_signing_secrets"] == [
        {"url": "http://127.0.0.1:9/hook", "secret": "whsec_configured"}
    ]
    mailchimp = providers["mailchimp"]
    assert mailchimp["oauth_base_url"] == f"{sandbox_process}/mailchimp/oauth2"
    assert "sk_test_index" not in str(index)  # the sandbox's own key guards the controls
    ping = httpx.get(f"{mailchimp['api_base_url']}/ping", auth=("any", mailchimp["api_key"]))
    assert ping.json() == {"health_status": "Everything's Chimpy!"}
    unknown = httpx.get(
        f"{stripe['api_base_url']}/v1/nothing_here",
        headers={"Authorization": "Bearer sk_test_index"},
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "invalid_request_error"


def test_request_log_lists_provider_calls_by_kind(sandbox_process: str) -> None:
    """``/_sandbox/requests`` (the sandbox's key) lists provider calls by kind: a Stripe create
    is a write, a list a read, Square's search POST a read."""
    key = {"Authorization": "Bearer sk_test_index"}
    log = f"{sandbox_process}/_sandbox/requests"
    assert httpx.get(log).status_code == 401
    start = httpx.get(log, headers=key).json()["next"]
    stripe = f"{sandbox_process}/v1/customers"
    assert httpx.post(stripe, headers=key, data={"email": "a@example.com"}).is_success
    assert httpx.get(stripe, headers=key).is_success
    httpx.post(f"{sandbox_process}/square/v2/customers/search", json={})  # 401 there: no token
    seen = httpx.get(log, headers=key, params={"after": start}).json()["requests"]
    assert [(r["provider"], r["method"], r["kind"], r["status"]) for r in seen] == [
        ("stripe", "POST", "write", 200),
        ("stripe", "GET", "read", 200),
        ("square", "POST", "read", 401),
    ]
    writes = httpx.get(
        log, headers=key, params={"after": start, "provider": "stripe", "kind": "write"}
    ).json()["requests"]
    assert [r["path"] for r in writes] == ["/v1/customers"]
    counted = httpx.get(log, headers=key, params={"after": start, "limit": 0}).json()
    assert counted["count"] == 3 and counted["requests"] == []
