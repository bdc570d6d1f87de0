"""Attack run, roles: who may enqueue which job type, and who sees job payloads (issue 7).

Every role (and no token) posts every job type over HTTP with a payload that is otherwise valid.
Money jobs come only from the ``service`` role (the platform enqueues its own in the business
write's transaction); communication, maintenance and report jobs from ``service`` and ``admin``;
a venue admin may only track analytics and run integrations of its own venue. Monitoring sees
counts, never payloads; a venue admin only ever sees its own venue's jobs.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from tests.support import auth_header, running_app

from tickettoken.kit.db import Database
from tickettoken.kit.jobs import JOB_TYPES
from tickettoken.kit.settings import Settings
from tickettoken.queue.app import create_app
from tickettoken.queue.monitoring.config import MonitorConfig

JOBS = "/api/v1/queue/jobs"
VENUE = str(uuid.uuid4())
OTHER_VENUE = str(uuid.uuid4())
ROLES = ("admin", "venue_admin", "venue_staff", "customer", "monitoring", "service", None)


def _payload(job_type: str) -> dict[str, Any]:
    """A valid payload of each type, fresh ids so that no call is a duplicate of another."""
    unique = str(uuid.uuid4())
    return {
        "payment-process": {"order_id": unique, "amount_cents": 18000, "currency": "usd"},
        "refund-process": {
            "refund_id": unique,
            "order_id": str(uuid.uuid4()),
            "payment_intent_id": f"pi_{uuid.uuid4().hex}",
            "amount_cents": 18000,
        },
        "payout-process": {"payout_id": unique, "venue_id": VENUE, "amount_cents": 99_999_999},
        "nft-mint": {"ticket_id": unique, "owner": "attacker-wallet-1"},
        "send-email": {
            "to": "fan@example.com",
            "template": "event-cancelled",
            "data": {"event_name": "Gala", "reason": "weather"},
        },
        "send-sms": {
            "to": "+15550001234",
            "template": "event-cancelled",
            "data": {"event_name": "Gala", "reason": "weather"},
        },
        "send-push": {
            "token": f"device-{unique}",
            "template": "event-cancelled",
            "data": {"event_name": "Gala", "reason": "weather"},
        },
        "analytics-track": {"event_type": "page_view", "properties": {"n": unique}},
        "cleanup-old-data": {},
        "generate-report": {"report_type": "queue-activity", "report_id": unique},
        "sync": {"provider": "square"},
        "webhook": {"provider": "square"},
    }[job_type]


QUEUE_OF = JOB_TYPES

# job type -> roles that may enqueue it through the API
ALLOWED: dict[str, frozenset[str]] = {
    **dict.fromkeys(
        ("payment-process", "refund-process", "payout-process", "nft-mint"), frozenset({"service"})
    ),
    **dict.fromkeys(("send-email", "send-sms", "send-push"), frozenset({"service", "admin"})),
    **dict.fromkeys(("cleanup-old-data", "generate-report"), frozenset({"service", "admin"})),
    **dict.fromkeys(
        ("analytics-track", "sync", "webhook"), frozenset({"service", "admin", "venue_admin"})
    ),
}


@pytest.fixture
async def queue_api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, MonitorConfig(monitor_enabled=False))
    async with running_app(app) as http:
        yield http


def _headers(token_for: Callable[..., str], role: str | None) -> dict[str, str]:
    if role is None:
        return {}
    return auth_header(token_for(role, venue_ids=[VENUE], sub=f"{role}-{uuid.uuid4().hex[:8]}"))


async def _sql(database_url: str, sql: str, params: dict[str, Any]) -> Any:
    database = Database(database_url, pool_min=1, pool_max=2)
    try:
        async with database.transaction() as session:
            result = await session.execute(text(sql), params)
            return result.scalar() if result.returns_rows else None
    finally:
        await database.dispose()


async def _stored_jobs(database_url: str, job_type: str, marker: str | None = None) -> int:
    """Jobs of a type (whose payload contains ``marker``, if given)."""
    table = f"jobs_{QUEUE_OF[job_type]}"
    found = await _sql(
        database_url,
        f"SELECT count(*) FROM {table} WHERE type = :t AND payload::text LIKE :m",
        {"t": job_type, "m": f"%{marker or ''}%"},
    )
    return int(found)


@pytest.mark.parametrize("job_type", sorted(ALLOWED))
async def test_only_allowed_roles_enqueue_each_job_type(
    queue_api: httpx.AsyncClient,
    token_for: Callable[..., str],
    database_url: str,
    job_type: str,
) -> None:
    for role in ROLES:
        data = _payload(job_type)
        body = {"queue": QUEUE_OF[job_type], "type": job_type, "data": data, "venue_id": VENUE}
        before = await _stored_jobs(database_url, job_type)
        response = await queue_api.post(JOBS, json=body, headers=_headers(token_for, role))
        if role is None:
            expected = 401
        elif role in ALLOWED[job_type]:
            expected = 201
        else:
            expected = 403
        assert response.status_code == expected, (role, job_type, response.text)
        if expected != 201:
            assert response.json()["success"] is False
            after = await _stored_jobs(database_url, job_type)
            assert after == before, (role, job_type)


@pytest.mark.parametrize("role", ["admin", "venue_admin"])
async def test_money_jobs_in_a_batch_are_refused_and_nothing_is_stored(
    queue_api: httpx.AsyncClient, token_for: Callable[..., str], database_url: str, role: str
) -> None:
    headers = _headers(token_for, role)
    refund = _payload("refund-process")
    ours = {"queue": "money", "type": "refund-process", "data": refund, "venue_id": VENUE}
    response = await queue_api.post(f"{JOBS}/batch", json={"jobs": [ours]}, headers=headers)
    assert response.status_code == 403, response.text
    payment = _payload("payment-process")
    original_shape = {"queue": "money", "jobs": [{"type": "payment-process", "data": payment}]}
    response = await queue_api.post(f"{JOBS}/batch", json=original_shape, headers=headers)
    assert response.status_code == 403, response.text
    assert await _stored_jobs(database_url, "refund-process", refund["refund_id"]) == 0
    assert await _stored_jobs(database_url, "payment-process", payment["order_id"]) == 0

    mixed = {
        "jobs": [
            {"queue": "money", "type": "payout-process", "data": _payload("payout-process")},
            {
                "queue": "background",
                "type": "analytics-track",
                "data": _payload("analytics-track"),
                "venue_id": VENUE,
            },
        ]
    }
    response = await queue_api.post(f"{JOBS}/batch", json=mixed, headers=headers)
    assert response.status_code == 201, response.text
    results = response.json()["data"]["results"]
    assert [r["success"] for r in results] == [False, True]
    assert results[0]["code"] == "FORBIDDEN"


async def test_retention_floors_hold_against_any_payload(
    queue_api: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    admin = _headers(token_for, "admin")
    floors = (("jobs_days", 1), ("jobs_days", 89), ("metrics_days", 29), ("alerts_days", 6))
    for name, below in floors:
        body = {"queue": "background", "type": "cleanup-old-data", "data": {name: below}}
        response = await queue_api.post(JOBS, json=body, headers=admin)
        assert response.status_code == 422, (name, below, response.text)
        assert any(name in d["field"] for d in response.json()["details"])
    longer = {"queue": "background", "type": "cleanup-old-data", "data": {"jobs_days": 120}}
    assert (await queue_api.post(JOBS, json=longer, headers=admin)).status_code == 201


async def test_report_requester_is_the_caller_not_the_payload(
    queue_api: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    sub = f"svc-{uuid.uuid4().hex[:8]}"
    service = auth_header(token_for("service", sub=sub))
    body = {
        "queue": "background",
        "type": "generate-report",
        "data": {"report_type": "queue-activity", "requested_by": "someone-else"},
    }
    created = await queue_api.post(JOBS, json=body, headers=service)
    assert created.status_code == 201, created.text
    job = await queue_api.get(f"{JOBS}/{created.json()['data']['job_id']}", headers=service)
    assert job.json()["data"]["payload"]["requested_by"] == f"service:{sub}"


async def test_money_jobs_cannot_be_cancelled_or_cleared_through_the_api(
    queue_api: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    service = _headers(token_for, "service")
    admin = _headers(token_for, "admin")
    body = {
        "queue": "money",
        "type": "refund-process",
        "data": _payload("refund-process"),
        "options": {"delay": 3_600_000},
    }
    created = await queue_api.post(JOBS, json=body, headers=service)
    assert created.status_code == 201, created.text
    job_id = created.json()["data"]["job_id"]
    for headers in (service, admin):
        cancelled = await queue_api.delete(f"{JOBS}/{job_id}", headers=headers)
        assert cancelled.status_code == 409, cancelled.text
    cleared = await queue_api.post("/api/v1/queue/queues/money/clear", headers=admin)
    assert cleared.status_code == 409, cleared.text
    still = await queue_api.get(f"{JOBS}/{job_id}", headers=service)
    assert still.json()["data"]["status"] == "queued"


SECRET_EMAIL = "victim-{}@example.com"


@pytest.fixture
async def victim_email(
    queue_api: httpx.AsyncClient, token_for: Callable[..., str], database_url: str
) -> str:
    """A communication job of another venue with a recipient address in its payload, failed
    (its error names the address, as an SMTP refusal does) and also dead-lettered."""
    service = _headers(token_for, "service")
    email = SECRET_EMAIL.format(uuid.uuid4().hex[:8])
    body = {
        "queue": "communication",
        "type": "send-email",
        "venue_id": OTHER_VENUE,
        "data": {
            "to": email,
            "template": "event-cancelled",
            "data": {"event_name": "Gala", "reason": "weather"},
        },
    }
    created = await queue_api.post(JOBS, json=body, headers=service)
    assert created.status_code == 201, created.text
    job_id = created.json()["data"]["job_id"]
    error = f"PermanentJobError: recipients refused: ['{email}']"
    await _sql(
        database_url,
        "UPDATE jobs_communication SET status = 'failed', last_error = :e, finished_at = now()"
        " WHERE job_uuid = :u",
        {"e": error, "u": uuid.UUID(job_id)},
    )
    await _sql(
        database_url,
        "INSERT INTO dead_letter_jobs (queue, job_uuid, type, payload, last_error, venue_id)"
        " SELECT 'communication', job_uuid, type, payload, last_error, venue_id"
        " FROM jobs_communication WHERE job_uuid = :u",
        {"u": uuid.UUID(job_id)},
    )
    return email


async def test_monitoring_sees_no_job_payloads(
    queue_api: httpx.AsyncClient, token_for: Callable[..., str], victim_email: str
) -> None:
    monitoring = _headers(token_for, "monitoring")
    listed = await queue_api.get(
        "/api/v1/queue/queues/communication/jobs?status=failed&limit=100", headers=monitoring
    )
    assert listed.status_code == 200, listed.text
    jobs = listed.json()["data"]
    assert jobs, "monitoring still sees that jobs exist"
    assert victim_email not in listed.text
    for job in jobs:
        assert "payload" not in job and "result" not in job and "idempotency_key" not in job
    job_id = next(j["job_id"] for j in jobs)
    single = await queue_api.get(f"{JOBS}/{job_id}", headers=monitoring)
    assert single.status_code == 403
    for path in (
        "/api/v1/queue/dead-letter?include_requeued=true",
        "/api/v1/queue/metrics/failures",
        "/api/v1/queue/metrics/summary",
    ):
        response = await queue_api.get(path, headers=monitoring)
        assert response.status_code == 200, (path, response.text)
        assert "payload" not in response.text and "@example.com" not in response.text, path


async def test_venue_tokens_see_only_their_own_venue_jobs(
    queue_api: httpx.AsyncClient, token_for: Callable[..., str], victim_email: str
) -> None:
    venue_admin = _headers(token_for, "venue_admin")
    for name in ("money", "communication", "background"):
        path = f"/api/v1/queue/queues/{name}/jobs?limit=100"
        listed = await queue_api.get(path, headers=venue_admin)
        assert listed.status_code == 200
        assert {job["venue_id"] for job in listed.json()["data"]} <= {VENUE}
        assert victim_email not in listed.text
    for role in ("venue_staff", "customer"):
        headers = _headers(token_for, role)
        for path in (
            "/api/v1/queue/queues/communication/jobs",
            "/api/v1/queue/dead-letter",
            "/api/v1/queue/metrics/failures",
        ):
            assert (await queue_api.get(path, headers=headers)).status_code == 403, (role, path)
    letters = await queue_api.get("/api/v1/queue/dead-letter", headers=venue_admin)
    assert letters.status_code == 403


async def test_only_operators_retry_a_money_job_and_it_stays_the_same_job(
    queue_api: httpx.AsyncClient, token_for: Callable[..., str], database_url: str
) -> None:
    service = _headers(token_for, "service")
    refund = _payload("refund-process")
    body = {"queue": "money", "type": "refund-process", "data": refund, "venue_id": VENUE}
    created = await queue_api.post(JOBS, json=body, headers=service)
    job_id = created.json()["data"]["job_id"]
    await _sql(
        database_url,
        "UPDATE jobs_money SET status = 'failed', last_error = 'x', finished_at = now()"
        " WHERE job_uuid = :u",
        {"u": uuid.UUID(job_id)},
    )
    for role in ("venue_admin", "venue_staff", "customer", "monitoring"):
        retried = await queue_api.post(f"{JOBS}/{job_id}/retry", headers=_headers(token_for, role))
        assert retried.status_code == 403, (role, retried.text)
    retried = await queue_api.post(f"{JOBS}/{job_id}/retry", headers=_headers(token_for, "admin"))
    assert retried.status_code == 200, retried.text
    job = retried.json()["data"]
    assert job["status"] == "queued" and job["payload"] == refund  # same payload, same key
    assert job["idempotency_key"] == created.json()["data"]["idempotency_key"]
