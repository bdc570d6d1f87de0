"""Attack run, tokens: malformed claims and dashboard sessions.

- A signed token whose claims make no sense (a venue id that is no UUID, ``venue_ids`` that is
  not a list, an unknown role, an empty or huge subject) is an invalid token: 401 everywhere,
  never a 500 deep inside a report (issue 7, item 8).
- Signing out of the queue dashboard revokes the session: the cookie replayed afterwards is
  refused by every instance of the queue service, with Redis and without (item 9).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import jwt
import pytest
from tests.support import TEST_JWT_SECRET, auth_header, make_settings, running_app

from tickettoken.events.app import create_app as create_event_app
from tickettoken.kit.settings import Settings
from tickettoken.queue.app import create_app as create_queue_app
from tickettoken.queue.monitoring.config import MonitorConfig

EVENT_ROUTES = (
    "/api/v1/reports/sales",
    "/api/v1/reports/venue-comparison",
    "/api/v1/reports/customer-insights",
    "/api/v1/orders",
    "/api/v1/users/someone/notifications",
)


def signed(settings: Settings, **claims: Any) -> str:
    """A correctly signed token for ``settings`` with exactly these extra claims."""
    now = int(time.time())
    payload = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + 600,
        **claims,
    }
    return jwt.encode(payload, TEST_JWT_SECRET, algorithm="HS256")


@pytest.fixture
async def events_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_event_app(settings)) as client:
        yield client


MALFORMED_CLAIMS: dict[str, dict[str, Any]] = {
    "venue-id-abc": {"sub": "staff-1", "role": "venue_staff", "venue_ids": ["abc"]},
    "venue-id-star": {"sub": "admin-1", "role": "venue_admin", "venue_ids": ["*"]},
    "venue-id-number": {"sub": "admin-1", "role": "venue_admin", "venue_ids": [7]},
    "venue-ids-a-string": {"sub": "staff-1", "role": "venue_staff", "venue_ids": "abc"},
    "venue-ids-an-object": {"sub": "staff-1", "role": "venue_staff", "venue_ids": {"a": 1}},
    "single-venue-id-abc": {"sub": "staff-1", "role": "venue_staff", "venueId": "abc"},
    "role-unknown": {"sub": "u-1", "role": "root"},
    "role-missing": {"sub": "u-1"},
    "sub-empty": {"sub": "", "role": "customer"},
    "sub-blank": {"sub": "   ", "role": "customer"},
    "sub-huge": {"sub": "x" * 10_000, "role": "customer"},
    "sub-an-object": {"sub": {"id": 1}, "role": "customer"},
    "permissions-a-string": {"sub": "u-1", "role": "customer", "permissions": "all"},
}


@pytest.mark.parametrize("claims", MALFORMED_CLAIMS.values(), ids=MALFORMED_CLAIMS.keys())
async def test_a_token_with_malformed_claims_is_invalid_everywhere(
    events_client: httpx.AsyncClient, settings: Settings, claims: dict[str, Any]
) -> None:
    headers = auth_header(signed(settings, **claims))
    for path in EVENT_ROUTES:
        response = await events_client.get(path, headers=headers)
        assert response.status_code == 401, (path, response.text)
        body = response.json()
        assert body["success"] is False and body["code"] == "UNAUTHORIZED"


async def test_a_token_with_well_formed_venue_ids_still_works(
    events_client: httpx.AsyncClient, settings: Settings
) -> None:
    venue = str(uuid.uuid4())
    for claims in (
        {"sub": "staff-2", "role": "venue_staff", "venue_ids": [venue.upper()]},
        {"sub": "staff-2", "role": "venue_staff", "venueId": venue},
        {"userId": 42, "role": "venue_staff", "venue_ids": []},
    ):
        headers = auth_header(signed(settings, **claims))
        for path in EVENT_ROUTES[:-1]:
            response = await events_client.get(path, headers=headers)
            assert response.status_code == 200, (claims, path, response.text)


DASHBOARD = "/api/v1/queue/dashboard"


@pytest.fixture
async def two_queue_instances(
    request: pytest.FixtureRequest, database_url: str, redis_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two queue-service instances on one database; with Redis or without (in-process store)."""
    extra = {"redis_url": redis_url} if request.param == "redis" else {}
    settings = make_settings(database_url=database_url, **extra)
    first = create_queue_app(settings, MonitorConfig(monitor_enabled=False))
    second = create_queue_app(settings, MonitorConfig(monitor_enabled=False))
    async with running_app(first) as one, running_app(second) as two:
        yield one, two


@pytest.mark.parametrize("two_queue_instances", ["redis", "no-redis"], indirect=True)
async def test_a_dashboard_cookie_replayed_after_sign_out_is_refused_by_every_instance(
    two_queue_instances: tuple[httpx.AsyncClient, httpx.AsyncClient],
    token_for: Callable[..., str],
) -> None:
    one, two = two_queue_instances
    signed_in = await one.post(f"{DASHBOARD}/session", headers=auth_header(token_for("admin")))
    assert signed_in.status_code == 200, signed_in.text
    csrf = signed_in.cookies["tt_queue_csrf"]
    cookies = {"Cookie": f"tt_queue_session={signed_in.cookies['tt_queue_session']}"}
    one.cookies.clear()
    for instance in (one, two):
        who = await instance.get(f"{DASHBOARD}/session", headers=cookies)
        assert who.status_code == 200, who.text

    out = await one.delete(f"{DASHBOARD}/session", headers=cookies)
    assert out.status_code == 200, out.text
    assert 'tt_queue_session=""' in out.headers.get("set-cookie", "")

    for instance in (one, two):
        for path in (f"{DASHBOARD}/session", "/api/v1/queue/metrics/summary"):
            replay = await instance.get(path, headers=cookies)
            assert replay.status_code == 401, (path, replay.text)
            assert replay.json()["code"] == "UNAUTHORIZED"
        write = await instance.post(
            f"/api/v1/queue/alerts/{uuid.uuid4()}/acknowledge",
            headers=cookies | {"X-CSRF-Token": csrf},
        )
        assert write.status_code == 401, write.text
    # Another sign-in of the same user is a new session and works.
    again = await two.post(f"{DASHBOARD}/session", headers=auth_header(token_for("admin")))
    assert again.status_code == 200
    fresh = {"Cookie": f"tt_queue_session={again.cookies['tt_queue_session']}"}
    two.cookies.clear()
    assert (await one.get(f"{DASHBOARD}/session", headers=fresh)).status_code == 200


async def test_signing_out_without_a_session_still_clears_the_cookies(
    queue_client: httpx.AsyncClient,
) -> None:
    out = await queue_client.delete(
        f"{DASHBOARD}/session", headers={"Cookie": "tt_queue_session=not-a-session"}
    )
    assert out.status_code == 200
    assert 'tt_queue_session=""' in out.headers.get("set-cookie", "")


@pytest.fixture
async def queue_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_queue_app(settings, MonitorConfig(monitor_enabled=False))) as c:
        yield c
