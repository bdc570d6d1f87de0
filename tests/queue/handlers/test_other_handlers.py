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
    cancelled = {"template": "event-cancelled", "data": {"event_name": marker, "reason": "rain"}}
    email, sms, push = await run_jobs(
        [
            JobSpec("communication", "send-email", {"to": "fan@example.com", **cancelled}),
            JobSpec("communication", "send-sms", {"to": "+15550001", **cancelled}),
            JobSpec("communication", "send-push", {"token": "dev-1", **cancelled}),
        ]
    )
    assert [email.status, sms.status, push.status] == ["completed"] * 3
    mails = [m for m in sandbox.get("/_sandbox/emails").json()["items"] if marker in m["subject"]]
    assert len(mails) == 1 and mails[0]["to"] == ["fan@example.com"]
    assert mails[0]["idempotency_key"] == email.idempotency_key
    assert mails[0]["subject"] == f"{marker} is cancelled"
    assert (
        mails[0]["body"].strip() == f"{marker} has been cancelled: rain. Any refund is on its way."
    )
    texts = [m for m in sandbox.get("/_sandbox/sms").json()["items"] if marker in m["body"]]
    assert len(texts) == 1 and texts[0]["idempotency_key"] == sms.idempotency_key
    pushes = [m for m in sandbox.get("/_sandbox/push").json()["items"] if marker in m["title"]]
    assert len(pushes) == 1


async def test_sms_outage_retries_then_dead_letters(run_jobs, sandbox: Sandbox, hdb: Database):
    await sandbox.request(
        "POST",
        "/_sandbox/faults",
        json={"status": 503, "count": 3, "path_prefix": "/sms", "retry_after": 0},
        headers=sandbox.key_header(),
    )
    message = {"template": "event-cancelled", "data": {"event_name": "x", "reason": "y"}}
    spec = JobSpec("communication", "send-sms", {"to": "+15550002", **message}, max_attempts=2)
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
    await sandbox.request(
        "POST", "/_sandbox/faults", json={"count": 0}, headers=sandbox.key_header()
    )


async def _report_row(hdb: Database, report_id: str, columns: str) -> Any:
    async with hdb.transaction() as session:
        return (
            await session.execute(
                text(f"SELECT {columns} FROM reports WHERE id = :id"),
                {"id": uuid.UUID(report_id)},
            )
        ).one()


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
    row = await _report_row(hdb, report_id, "status, result")
    assert row[0] == "completed"
    assert row[1]["by_type"] == {"ticket_viewed": 3} and row[1]["total"] == 3
    (activity,) = await run_jobs(
        [JobSpec("background", "generate-report", {"report_type": "queue-activity"})]
    )
    assert activity.status == "completed"


async def test_original_camel_case_analytics_job_is_tracked(run_jobs, hdb: Database) -> None:
    venue = str(uuid.uuid4())
    (job,) = await run_jobs(
        [
            JobSpec(
                "background",
                "analytics-track",
                {
                    "eventType": "ticket_viewed",
                    "venueId": venue,
                    "userId": "u1",
                    "data": {"seat": "A1"},
                    "timestamp": 1_764_237_600_000,  # epoch milliseconds, as Date.now()
                },
            )
        ]
    )
    assert job.status == "completed", job.last_error
    async with hdb.transaction() as session:
        row = (
            await session.execute(
                text(
                    "SELECT event_type, user_id, properties, occurred_at FROM analytics_events"
                    " WHERE venue_id = :v"
                ),
                {"v": uuid.UUID(venue)},
            )
        ).one()
    assert row[0] == "ticket_viewed" and row[1] == "u1" and row[2] == {"seat": "A1"}
    assert row[3].isoformat() == "2025-11-27T10:00:00+00:00"


async def test_a_report_of_another_requester_is_never_overwritten(run_jobs, hdb: Database) -> None:
    report_id = str(uuid.uuid4())

    def report(by: str, kind: str) -> JobSpec:
        data = {"report_type": kind, "report_id": report_id, "requested_by": by}
        return JobSpec("background", "generate-report", data)

    (first,) = await run_jobs([report("service:a", "queue-activity")])
    assert first.status == "completed"
    (other,) = await run_jobs([report("service:b", "analytics-summary")])
    assert other.status == "failed" and "another requester" in (other.last_error or "")
    (again,) = await run_jobs([report("service:a", "queue-activity")])
    assert again.status == "completed"
    row = await _report_row(hdb, report_id, "created_by, report_type, status")
    assert tuple(row) == ("service:a", "queue-activity", "completed")


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
