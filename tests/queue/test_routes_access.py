"""Every queue route: 401 without a token, 403 with a wrong role, 422 on invalid input.

The table below is the authorization contract of ``tickettoken.queue.routers``; a route added
without a row here fails ``test_every_route_is_in_the_table``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from tests.support import auth_header

ID = str(uuid.uuid4())
JOB = {"queue": "background", "type": "analytics-track", "data": {"event_type": "x"}}

# method, path, valid body, a role that must get 403, invalid variant (path, body)
ROUTES: list[tuple[str, str, Any, str, tuple[str, Any]]] = [
    (
        "POST",
        "/api/v1/queue/jobs",
        JOB,
        "monitoring",
        ("/api/v1/queue/jobs", {**JOB, "options": {"priority": 11}}),
    ),
    (
        "POST",
        "/api/v1/queue/jobs/batch",
        {"jobs": [JOB]},
        "customer",
        ("/api/v1/queue/jobs/batch", {"jobs": [JOB] * 101}),
    ),
    # A job id that is not a UUID matches no route ({job_id:uuid}): see test_jobs_routes.
    ("GET", f"/api/v1/queue/jobs/{ID}", None, "customer", None),
    (
        "POST",
        f"/api/v1/queue/jobs/{ID}/retry",
        None,
        "venue_admin",
        None,
    ),
    (
        "DELETE",
        f"/api/v1/queue/jobs/{ID}",
        None,
        "monitoring",
        None,
    ),
    ("GET", "/api/v1/queue/queues", None, "venue_admin", None),  # type: ignore[list-item]
    (
        "GET",
        "/api/v1/queue/queues/money/status",
        None,
        "customer",
        ("/api/v1/queue/queues/nope/status", None),
    ),
    (
        "GET",
        "/api/v1/queue/queues/money/jobs",
        None,
        "customer",
        ("/api/v1/queue/queues/money/jobs?status=weird", None),
    ),
    (
        "POST",
        "/api/v1/queue/queues/background/pause",
        None,
        "monitoring",
        ("/api/v1/queue/queues/nope/pause", None),
    ),
    (
        "POST",
        "/api/v1/queue/queues/background/resume",
        None,
        "service",
        ("/api/v1/queue/queues/nope/resume", None),
    ),
    (
        "POST",
        "/api/v1/queue/queues/background/clear",
        None,
        "service",
        ("/api/v1/queue/queues/nope/clear", None),
    ),
    ("GET", "/api/v1/queue/metrics/summary", None, "service", None),  # type: ignore[list-item]
    (
        "GET",
        "/api/v1/queue/metrics/throughput",
        None,
        "venue_admin",
        ("/api/v1/queue/metrics/throughput?minutes=0", None),
    ),
    (
        "GET",
        "/api/v1/queue/metrics/failures",
        None,
        "customer",
        ("/api/v1/queue/metrics/failures?hours=-1", None),
    ),
    ("GET", "/api/v1/queue/metrics/prometheus", None, "service", None),  # type: ignore[list-item]
    ("GET", "/api/v1/queue/alerts", None, "service", ("/api/v1/queue/alerts?severity=loud", None)),
    (
        "POST",
        f"/api/v1/queue/alerts/{ID}/acknowledge",
        None,
        "service",
        ("/api/v1/queue/alerts/nope/acknowledge", None),
    ),
    (
        "POST",
        "/api/v1/queue/alerts/test",
        {},
        "monitoring",
        ("/api/v1/queue/alerts/test", {"severity": "loud"}),
    ),
    ("GET", "/api/v1/queue/rate-limits", None, "service", None),  # type: ignore[list-item]
    (
        "POST",
        "/api/v1/queue/rate-limits/stripe/reset",
        None,
        "monitoring",
        ("/api/v1/queue/rate-limits/Stripe!/reset", None),
    ),
    (
        "GET",
        "/api/v1/queue/dead-letter",
        None,
        "venue_admin",
        ("/api/v1/queue/dead-letter?queue=nope", None),
    ),
    (
        "POST",
        f"/api/v1/queue/dead-letter/{ID}/requeue",
        None,
        "monitoring",
        ("/api/v1/queue/dead-letter/nope/requeue", None),
    ),
    ("GET", "/api/v1/queue/dashboard/session", None, "service", None),  # type: ignore[list-item]
]

PUBLIC = {
    ("GET", "/api/v1/queue/dashboard"),
    ("GET", "/api/v1/queue/dashboard/app.js"),
    ("POST", "/api/v1/queue/dashboard/session"),
    ("DELETE", "/api/v1/queue/dashboard/session"),
}


def _request(client: httpx.AsyncClient, method: str, path: str, body: Any, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(
    ("method", "path", "body", "wrong", "invalid"),
    ROUTES,
    ids=[f"{r[0]} {r[1].replace(ID, '{id}')}" for r in ROUTES],
)
async def test_route_access(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    method: str,
    path: str,
    body: Any,
    wrong: str,
    invalid: tuple[str, Any] | None,
) -> None:
    response = await _request(client, method, path, body, {})
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "UNAUTHORIZED"

    response = await _request(client, method, path, body, auth_header(token_for(wrong)))
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "FORBIDDEN"

    if invalid is not None:
        bad_path, bad_body = invalid
        response = await _request(
            client, method, bad_path, bad_body, auth_header(token_for("admin"))
        )
        assert response.status_code == 422, response.text
        body_json = response.json()
        assert body_json["success"] is False and body_json["code"] == "VALIDATION_ERROR"


def test_every_route_is_in_the_table() -> None:
    from tests.support import make_settings

    from tickettoken.queue.app import create_app

    app = create_app(make_settings())
    declared = {(m, p.replace(ID, "{x}")) for m, p, *_ in ROUTES} | PUBLIC
    normalized = set()
    for m, p in declared:
        parts = ["{x}" if (len(s) == 36 and s.count("-") == 4) else s for s in p.split("/")]
        normalized.add((m, "/".join(parts)))
    for route in app.routes:
        path = getattr(route, "path", "")
        if not path.startswith("/api/v1/queue"):
            continue
        for method in getattr(route, "methods", set()) - {"HEAD"}:
            template = "/".join("{x}" if s.startswith("{") else s for s in path.split("/"))
            # Routes with a {name} placeholder are covered by a concrete queue/provider name.
            concrete = {(m, p) for m, p in normalized if m == method and _matches(template, p)}
            assert concrete, f"{method} {path} has no row in ROUTES"


def _matches(template: str, path: str) -> bool:
    a, b = template.split("/"), path.split("?")[0].split("/")
    return len(a) == len(b) and all(x == "{x}" or x == y for x, y in zip(a, b, strict=True))
