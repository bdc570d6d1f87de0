"""The health routes over HTTP (the integration app in-process, the real database, the sandbox):
venue scoping as the connection routes do it, the periods of the metrics, a live test recorded,
and no secret in any answer."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
from tests.integrations.health.support import (
    BASE,
    engine_for,
    fetch,
    integration_app,
    stored_secrets,
)
from tests.integrations.helpers import SANDBOX_KEY, approve
from tests.support import auth_header

from tickettoken.kit.settings import Settings


def _venue_admin(token_for: Callable[..., str], venue: uuid.UUID) -> dict[str, str]:
    return auth_header(token_for("venue_admin", venue_ids=[str(venue)]))


async def test_health_routes_scoped_recorded_and_secret_free(
    integration_settings: Settings, token_for: Callable[..., str]
) -> None:
    venue, other = uuid.uuid4(), uuid.uuid4()
    owner = _venue_admin(token_for, venue)
    intruder = _venue_admin(token_for, other)
    staff = auth_header(token_for("venue_staff", venue_ids=[str(venue)]))
    answers: list[str] = []
    async with integration_app(integration_settings) as (app, http):

        async def call(method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
            answer = await http.request(method, f"{BASE}{path}", headers=headers, **kw)
            answers.append(answer.text)
            return answer

        # Before a connection: 404 for everything.
        missing = await call("GET", f"/health/stripe?venue_id={venue}", owner)
        assert missing.status_code == 404
        connected = await call(
            "POST", "/stripe/api-key", owner, json={"venue_id": str(venue), "api_key": SANDBOX_KEY}
        )
        assert connected.status_code == 200, connected.text

        before = await call("GET", f"/health/stripe?venue_id={venue}", owner)
        assert before.status_code == 200, before.text
        assert before.json()["data"]["status"] == "unknown"

        tested = await call("POST", "/health/stripe/test", owner, json={"venue_id": str(venue)})
        assert tested.status_code == 200, tested.text
        result = tested.json()["data"]
        assert result["ok"] is True and result["provider_status"] == 200
        assert result["health"]["status"] == "healthy"
        assert result["health"]["success_rate"] == 100.0

        # Another venue's admin: 404 on every health route, as on the connection routes.
        for method, path, body in (
            ("GET", f"/health/stripe?venue_id={venue}", None),
            ("GET", f"/health/stripe/metrics?venue_id={venue}&period=7d", None),
            ("POST", "/health/stripe/test", {"venue_id": str(venue)}),
        ):
            refused = await call(method, path, intruder, json=body)
            assert refused.status_code == 404, (path, refused.text)
            assert refused.json()["code"] == "NOT_FOUND"
        # Staff read, but may not run a live check.
        assert (await call("GET", f"/health/stripe?venue_id={venue}", staff)).status_code == 200
        staff_test = await call("POST", "/health/stripe/test", staff, json={"venue_id": str(venue)})
        assert staff_test.status_code == 404
        # Without a token: 401; a provider we do not know: 422.
        assert (await http.get(f"{BASE}/health/stripe?venue_id={venue}")).status_code == 401
        unknown = await call("GET", f"/health/paypal?venue_id={venue}", owner)
        assert unknown.status_code == 422

        for period in ("24h", "7d", "30d"):
            metrics = await call(
                "GET", f"/health/stripe/metrics?venue_id={venue}&period={period}", owner
            )
            assert metrics.status_code == 200, metrics.text
            data = metrics.json()["data"]
            assert data["period"] == period and data["checks"] == 1 and data["successes"] == 1
            assert data["api_calls"] == 0  # the service's meter has not flushed yet
            assert sum(b["checks"] for b in data["buckets"]) == 1
        for period in ("1h", "90d", "", "24H"):
            wrong = await call(
                "GET", f"/health/stripe/metrics?venue_id={venue}&period={period}", owner
            )
            assert wrong.status_code == 422, period
            assert wrong.json()["code"] == "VALIDATION_ERROR"

        await app.state.usage_meter.flush()
        metrics = await call("GET", f"/health/stripe/metrics?venue_id={venue}", owner)
        assert metrics.json()["data"]["api_calls"] == 2  # the connect's check and the test's

    async with engine_for(integration_settings) as engine:
        samples = await fetch(
            engine,
            "SELECT trigger, ok FROM integration_health_samples WHERE venue_id = :venue",
            venue=venue,
        )
    assert [(s.trigger, s.ok) for s in samples] == [("manual", True)]
    assert not any(SANDBOX_KEY in text for text in answers)


async def test_a_token_revoked_at_the_provider_makes_the_connection_unhealthy(
    integration_settings: Settings, token_for: Callable[..., str]
) -> None:
    """Square over the full OAuth flow, then the merchant revokes the app's access at Square:
    the live test fails with Square's 401, the connection is unhealthy, nothing secret shows."""
    venue = uuid.uuid4()
    owner = _venue_admin(token_for, venue)
    async with integration_app(integration_settings) as (_, http):
        started = await http.post(
            f"{BASE}/connect/square", json={"venue_id": str(venue)}, headers=owner
        )
        assert started.status_code == 200, started.text
        params = await approve(started.json()["data"]["authorization_url"])
        connected = await http.get(f"{BASE}/oauth/callback/square", params=params)
        assert connected.status_code == 200, connected.text
        merchant = connected.json()["data"]["account"]["merchant_id"]

        first = await http.post(
            f"{BASE}/health/square/test", json={"venue_id": str(venue)}, headers=owner
        )
        assert first.json()["data"]["ok"] is True, first.text

        async with httpx.AsyncClient() as square:
            revoked = await square.post(
                f"{integration_settings.square_base_url}/oauth2/revoke",
                json={"client_id": integration_settings.square_app_id, "merchant_id": merchant},
                headers={"Authorization": f"Client {integration_settings.square_app_secret}"},
            )
        assert revoked.status_code == 200, revoked.text

        failed = await http.post(
            f"{BASE}/health/square/test", json={"venue_id": str(venue)}, headers=owner
        )
        assert failed.status_code == 200, failed.text
        result = failed.json()["data"]
        assert result["ok"] is False and result["provider_status"] == 401
        assert result["health"]["status"] == "unhealthy"
        assert result["health"]["last_error"].startswith("Health check failed")
        view = await http.get(f"{BASE}/square", params={"venue_id": str(venue)}, headers=owner)
        assert view.json()["data"]["health_status"] == "unhealthy"
        answers = " ".join(a.text for a in (first, failed, view))
    secrets = await stored_secrets(integration_settings, venue)
    assert secrets and params["code"] not in answers
    assert not any(secret in answers for secret in secrets)
