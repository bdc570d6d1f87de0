"""The health routes over HTTP (the integration app in-process, the real database, the sandbox):
venue scoping as the connection routes do it, the periods of the metrics, a live test recorded,
and no secret in any answer."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from tests.integrations.health.support import BASE, engine_for, fetch, integration_app
from tests.integrations.helpers import SANDBOX_KEY
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
