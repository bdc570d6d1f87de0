"""Communication, background and integration handlers against the sandbox and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from tests.queue.handlers.handler_processes import Sandbox

from tickettoken.kit.db import Database
from tickettoken.kit.jobs import JobContext, JobSpec
from tickettoken.queue.handlers.integration import provider_dispatcher
from tickettoken.services import job_registry


async def test_email_sms_push_are_delivered(run_jobs, sandbox: Sandbox) -> None:
    marker = uuid.uuid4().hex
    email, sms, push = await run_jobs(
        [
            JobSpec(
                "communication",
                "send-email",
                {"to": "fan@example.com", "subject": f"Tickets {marker}", "text": "Enjoy"},
            ),
            JobSpec("communication", "send-sms", {"to": "+15550001", "body": f"sms {marker}"}),
            JobSpec("communication", "send-push", {"token": "dev-1", "title": f"push {marker}"}),
        ]
    )
    assert [email.status, sms.status, push.status] == ["completed"] * 3
    mails = [m for m in sandbox.get("/_sandbox/emails").json()["items"] if marker in m["subject"]]
    assert len(mails) == 1 and mails[0]["to"] == ["fan@example.com"]
    assert mails[0]["idempotency_key"] == email.idempotency_key
    assert mails[0]["body"].strip() == "Enjoy"
    texts = [m for m in sandbox.get("/_sandbox/sms").json()["items"] if marker in m["body"]]
    assert len(texts) == 1 and texts[0]["idempotency_key"] == sms.idempotency_key
    pushes = [m for m in sandbox.get("/_sandbox/push").json()["items"] if marker in m["title"]]
    assert len(pushes) == 1


async def test_sms_outage_retries_then_dead_letters(run_jobs, sandbox: Sandbox, hdb: Database):
    await sandbox.request(
        "POST",
        "/_sandbox/faults",
        json={"status": 503, "count": 3, "path_prefix": "/sms", "retry_after": 0},
    )
    spec = JobSpec("communication", "send-sms", {"to": "+1555", "body": "x"}, max_attempts=2)
    (job,) = await run_jobs([spec], within=40)
    assert job.status == "dead" and job.attempts == 2
    async with hdb.transaction() as session:
        letters = (
            await session.execute(
                text("SELECT count(*) FROM dead_letter_jobs WHERE job_uuid = :u"),
                {"u": uuid.UUID(job.job_id)},
            )
        ).scalar_one()
    assert letters == 1
    await sandbox.request("POST", "/_sandbox/faults", json={"count": 0})


async def test_analytics_and_report(run_jobs, hdb: Database) -> None:
    venue = str(uuid.uuid4())
    tracked = await run_jobs(
        [
            JobSpec(
                "background",
                "analytics-track",
                {
                    "event_type": "ticket_viewed",
                    "venue_id": venue,
                    "user_id": "u1",
                    "properties": {"event": "e1"},
                },
            )
            for _ in range(3)
        ]
    )
    assert all(job.status == "completed" for job in tracked)
    report_id = str(uuid.uuid4())
    (report_job,) = await run_jobs(
        [
            JobSpec(
                "background",
                "generate-report",
                {"report_type": "analytics-summary", "report_id": report_id},
                venue_id=venue,
            )
        ]
    )
    assert report_job.status == "completed"
    async with hdb.transaction() as session:
        row = (
            await session.execute(
                text("SELECT status, result FROM reports WHERE id = :id"),
                {"id": uuid.UUID(report_id)},
            )
        ).one()
    assert row[0] == "completed"
    assert row[1]["by_type"] == {"ticket_viewed": 3} and row[1]["total"] == 3
    (activity,) = await run_jobs(
        [JobSpec("background", "generate-report", {"report_type": "queue-activity"})]
    )
    assert activity.status == "completed"


async def test_cleanup_applies_retention(run_jobs, hdb: Database) -> None:
    marker = uuid.uuid4().hex
    async with hdb.transaction() as session:
        for age in (40, 20):
            await session.execute(
                text(
                    "INSERT INTO queue_metrics (queue_name, captured_at) VALUES"
                    " (:q, now() - make_interval(days => :d))"
                ),
                {"q": f"{marker}-{age}", "d": age},
            )
        for age in (8, 6):
            await session.execute(
                text(
                    "INSERT INTO alert_history (severity, alert_type, message, created_at)"
                    " VALUES ('info', :t, 'm', now() - make_interval(days => :d))"
                ),
                {"t": f"{marker}-{age}", "d": age},
            )
        for age in (100, 80):
            await session.execute(
                text(
                    "INSERT INTO jobs_background (type, status, idempotency_key, finished_at)"
                    " VALUES ('noop', 'completed', :k, now() - make_interval(days => :d))"
                ),
                {"k": f"{marker}-{age}", "d": age},
            )
        for hours in (-1, 1):  # HTTP Idempotency-Key records: one expired, one still valid
            await session.execute(
                text(
                    "INSERT INTO idempotency_records (key, scope, request_hash, status,"
                    " response_status, response_body, expires_at) VALUES (:k, 'test', 'h',"
                    " 'completed', 201, '{}', now() + make_interval(hours => :h))"
                ),
                {"k": f"{marker}-{hours}", "h": hours},
            )
    (job,) = await run_jobs([JobSpec("background", "cleanup-old-data", {})])
    assert job.status == "completed"
    async with hdb.transaction() as session:
        records = {
            r[0]
            for r in await session.execute(
                text("SELECT key FROM idempotency_records WHERE key LIKE :p"),
                {"p": f"{marker}%"},
            )
        }
        metrics = {
            r[0]
            for r in await session.execute(
                text("SELECT queue_name FROM queue_metrics WHERE queue_name LIKE :p"),
                {"p": f"{marker}%"},
            )
        }
        alerts = {
            r[0]
            for r in await session.execute(
                text("SELECT alert_type FROM alert_history WHERE alert_type LIKE :p"),
                {"p": f"{marker}%"},
            )
        }
        jobs = {
            r[0]
            for r in await session.execute(
                text("SELECT idempotency_key FROM jobs_background WHERE idempotency_key LIKE :p"),
                {"p": f"{marker}%"},
            )
        }
    assert metrics == {f"{marker}-20"}
    assert alerts == {f"{marker}-6"}
    assert jobs == {f"{marker}-80"}
    assert records == {f"{marker}-1"}


async def test_sync_and_webhook_need_a_registered_implementation(run_jobs) -> None:
    provider = f"p{uuid.uuid4().hex[:8]}"
    unsynced, unhooked = await run_jobs(
        [
            JobSpec("communication", "sync", {"provider": provider}),
            JobSpec("communication", "webhook", {"provider": provider}),
        ]
    )
    assert unsynced.status == "failed" and unhooked.status == "failed"
    assert "no sync implementation registered" in (unsynced.last_error or "")

    async def sync(ctx: JobContext) -> dict[str, Any]:
        return {"synced": ctx.payload["provider"]}

    registry = job_registry(callbacks=False)
    registry.register("sync", provider_dispatcher("sync", {provider: sync}), timeout=600)
    (done,) = await run_jobs([JobSpec("communication", "sync", {"provider": provider})], registry)
    assert done.status == "completed" and done.result == {"synced": provider}
