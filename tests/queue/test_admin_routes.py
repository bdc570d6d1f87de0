"""Queues, dead letters, alerts, rate limits and metrics over HTTP, on a real database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import asyncpg
import httpx
import pytest
from tests.support import auth_header

from tickettoken.kit.settings import Settings

Q = "/api/v1/queue"


@pytest.fixture
async def pg(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    url = settings.sqlalchemy_url()
    assert url
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    yield conn
    await conn.close()


async def _dead_job(pg: asyncpg.Connection) -> tuple[str, str]:
    """A communication job that exhausted its attempts, with its dead-letter row."""
    job_uuid = uuid.uuid4()
    await pg.execute(
        "INSERT INTO jobs_communication (job_uuid, type, payload, status, attempts,"
        " idempotency_key, last_error, finished_at) VALUES ($1, 'send-sms',"
        " '{\"to\": \"+15550100\"}', 'dead', 3, $2, 'sms api 503', now())",
        job_uuid,
        f"send-sms:{job_uuid}",
    )
    letter = await pg.fetchval(
        "INSERT INTO dead_letter_jobs (queue, job_uuid, type, payload, attempts, last_error,"
        " idempotency_key) VALUES ('communication', $1, 'send-sms', '{}', 3, 'sms api 503', $2)"
        " RETURNING id",
        job_uuid,
        f"send-sms:{job_uuid}",
    )
    return str(job_uuid), str(letter)


async def test_queues_status_pause_resume(
    client: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    admin = auth_header(token_for("admin"))
    listed = await client.get(f"{Q}/queues", headers=auth_header(token_for("monitoring")))
    assert listed.status_code == 200
    assert {q["queue"] for q in listed.json()["data"]} == {"money", "communication", "background"}

    paused = await client.post(f"{Q}/queues/background/pause", headers=admin)
    assert paused.status_code == 200 and paused.json()["data"]["paused"] is True
    status = await client.get(f"{Q}/queues/background/status", headers=admin)
    assert status.json()["data"]["paused"] is True
    resumed = await client.post(f"{Q}/queues/background/resume", headers=admin)
    assert resumed.json()["data"]["paused"] is False


async def test_clear_cancels_only_that_queues_waiting_jobs(
    client: httpx.AsyncClient, token_for: Callable[..., str], pg: asyncpg.Connection
) -> None:
    admin = auth_header(token_for("admin"))
    await client.post(f"{Q}/queues/background/pause", headers=admin)
    try:
        waiting = await client.post(
            f"{Q}/jobs",
            json={"queue": "background", "type": "analytics-track", "data": {"event_type": "x"}},
            headers=admin,
        )
        other_queue = await client.post(
            f"{Q}/jobs",
            json={
                "queue": "communication",
                "type": "send-sms",
                "data": {
                    "to": "+15550001234",
                    "template": "event-cancelled",
                    "data": {"event_name": "Gala", "reason": "rain"},
                },
                "options": {"delay": 3_600_000},
            },
            headers=admin,
        )
        done_uuid = uuid.uuid4()
        await pg.execute(
            "INSERT INTO jobs_background (job_uuid, type, status, finished_at)"
            " VALUES ($1, 'analytics-track', 'completed', now())",
            done_uuid,
        )
        cleared = await client.post(f"{Q}/queues/background/clear", headers=admin)
        assert cleared.status_code == 200 and cleared.json()["data"]["cancelled"] >= 1
        waiting_id = waiting.json()["data"]["job_id"]
        job = await client.get(f"{Q}/jobs/{waiting_id}", headers=admin)
        assert job.json()["data"]["status"] == "cancelled"  # kept, not deleted
        other_id = other_queue.json()["data"]["job_id"]
        other = await client.get(f"{Q}/jobs/{other_id}", headers=admin)
        assert other.json()["data"]["status"] == "queued"
        done = await client.get(f"{Q}/jobs/{done_uuid}", headers=admin)
        assert done.json()["data"]["status"] == "completed"
        await client.delete(f"{Q}/jobs/{other_id}", headers=admin)
    finally:
        await client.post(f"{Q}/queues/background/resume", headers=admin)


async def test_dead_letters_list_and_requeue(
    client: httpx.AsyncClient, token_for: Callable[..., str], pg: asyncpg.Connection
) -> None:
    job_id, letter_id = await _dead_job(pg)
    monitoring = auth_header(token_for("monitoring"))
    admin = auth_header(token_for("admin"))
    listed = await client.get(f"{Q}/dead-letter?queue=communication&limit=100", headers=monitoring)
    assert listed.status_code == 200
    assert letter_id in {item["id"] for item in listed.json()["data"]}
    assert listed.json()["pagination"]["total"] >= 1

    requeued = await client.post(f"{Q}/dead-letter/{letter_id}/requeue", headers=admin)
    assert requeued.status_code == 200
    assert requeued.json()["data"]["job_id"] == job_id
    assert requeued.json()["data"]["status"] == "queued"
    again = await client.post(f"{Q}/dead-letter/{letter_id}/requeue", headers=admin)
    assert again.status_code == 409
    missing = await client.post(f"{Q}/dead-letter/{uuid.uuid4()}/requeue", headers=admin)
    assert missing.status_code == 404
    await client.delete(f"{Q}/jobs/{job_id}", headers=admin)


async def test_alert_test_list_and_acknowledge(
    client: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    admin = auth_header(token_for("admin"))
    monitoring = auth_header(token_for("monitoring", sub="oncall"))
    sent = await client.post(f"{Q}/alerts/test", json={"severity": "warning"}, headers=admin)
    assert sent.status_code == 201
    assert sent.json()["data"]["channels"] == {"log": "sent"}
    alert_id = sent.json()["data"]["id"]

    listed = await client.get(f"{Q}/alerts?acknowledged=false&limit=100", headers=monitoring)
    assert alert_id in {a["id"] for a in listed.json()["data"]}

    acked = await client.post(f"{Q}/alerts/{alert_id}/acknowledge", headers=monitoring)
    assert acked.status_code == 200
    assert acked.json()["data"]["acknowledged"] is True
    assert acked.json()["data"]["acknowledged_by"] == "oncall"
    twice = await client.post(f"{Q}/alerts/{alert_id}/acknowledge", headers=monitoring)
    assert twice.status_code == 409
    unknown = await client.post(f"{Q}/alerts/{uuid.uuid4()}/acknowledge", headers=monitoring)
    assert unknown.status_code == 404


async def test_rate_limits_list_and_reset(
    client: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    admin = auth_header(token_for("admin"))
    listed = await client.get(f"{Q}/rate-limits", headers=auth_header(token_for("monitoring")))
    assert listed.status_code == 200
    providers = {p["provider"]: p for p in listed.json()["data"]["providers"]}
    assert providers["stripe"]["rate_per_second"] == 25
    assert providers["stripe"]["burst"] == 50 and providers["stripe"]["max_concurrent"] == 10
    assert listed.json()["data"]["groups"]["twilio-sms"] == "twilio"

    reset = await client.post(f"{Q}/rate-limits/quickbooks/reset", headers=admin)
    assert reset.status_code == 200
    assert reset.json()["data"]["tokens_available"] == reset.json()["data"]["effective_burst"] == 9
    unknown = await client.post(f"{Q}/rate-limits/nope/reset", headers=admin)
    assert unknown.status_code == 404


async def test_metrics_routes(client: httpx.AsyncClient, token_for: Callable[..., str]) -> None:
    monitoring = auth_header(token_for("monitoring"))
    summary = await client.get(f"{Q}/metrics/summary", headers=monitoring)
    assert summary.status_code == 200
    assert set(summary.json()["data"]["queues"]) == {"money", "communication", "background"}
    throughput = await client.get(f"{Q}/metrics/throughput?minutes=5", headers=monitoring)
    assert throughput.status_code == 200 and "samples" in throughput.json()["data"]
    failures = await client.get(f"{Q}/metrics/failures?hours=1", headers=monitoring)
    assert failures.status_code == 200
    prom = await client.get(f"{Q}/metrics/prometheus", headers=monitoring)
    assert prom.status_code == 200
    for name in (
        "tickettoken_queue_depth",
        "tickettoken_queue_active",
        "tickettoken_queue_failed",
        "tickettoken_queue_oldest_waiting_seconds",
        "tickettoken_queue_throughput_per_minute",
        "tickettoken_queue_failure_rate",
    ):
        assert f'{name}{{queue="money"}}' in prom.text
    service_metrics = await client.get("/metrics")
    assert 'tickettoken_queue_depth{queue="money"}' in service_metrics.text
