"""The dashboard's cookie session: who may sign in, cookie flags, CSRF, audience separation."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
from tests.support import auth_header

D = "/api/v1/queue/dashboard"


async def test_page_and_script_are_served_without_data(client: httpx.AsyncClient) -> None:
    page = await client.get(D)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    script = await client.get(f"{D}/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]


async def test_only_admin_and_monitoring_may_sign_in(
    client: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    assert (await client.post(f"{D}/session")).status_code == 401
    for role in ("service", "venue_admin", "customer"):
        response = await client.post(f"{D}/session", headers=auth_header(token_for(role)))
        assert response.status_code == 403, role
        assert "tt_queue_session" not in response.cookies


async def test_session_cookie_flags_csrf_and_audience(
    client: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    signed_in = await client.post(f"{D}/session", headers=auth_header(token_for("admin")))
    assert signed_in.status_code == 200
    set_cookies = signed_in.headers.get_list("set-cookie")
    session_header = next(c for c in set_cookies if c.startswith("tt_queue_session="))
    csrf_header = next(c for c in set_cookies if c.startswith("tt_queue_csrf="))
    assert "HttpOnly" in session_header and "SameSite=strict" in session_header
    assert "Path=/api/v1/queue" in session_header and "Max-Age=" in session_header
    assert "HttpOnly" not in csrf_header
    session = signed_in.cookies["tt_queue_session"]
    csrf = signed_in.cookies["tt_queue_csrf"]

    who = await client.get(f"{D}/session")  # the client keeps the cookies
    assert who.status_code == 200 and who.json()["data"]["role"] == "admin"
    assert (await client.get("/api/v1/queue/metrics/summary")).status_code == 200

    # State changes with the cookie need the CSRF header (another site cannot send it).
    target = f"/api/v1/queue/alerts/{uuid.uuid4()}/acknowledge"
    assert (await client.post(target)).status_code == 403
    assert (await client.post(target, headers={"X-CSRF-Token": "wrong"})).status_code == 403
    assert (await client.post(target, headers={"X-CSRF-Token": csrf})).status_code == 404

    # The session is not a bearer token anywhere (different audience).
    client.cookies.clear()
    as_bearer = await client.get("/api/v1/queue/metrics/summary", headers=auth_header(session))
    assert as_bearer.status_code == 401

    out = await client.delete(f"{D}/session")
    assert out.status_code == 200
    assert (await client.get(f"{D}/session")).status_code == 401


async def test_monitoring_session_cannot_do_admin_actions(
    client: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    signed_in = await client.post(f"{D}/session", headers=auth_header(token_for("monitoring")))
    csrf = signed_in.cookies["tt_queue_csrf"]
    response = await client.post(
        f"/api/v1/queue/dead-letter/{uuid.uuid4()}/requeue", headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 403
    client.cookies.clear()
