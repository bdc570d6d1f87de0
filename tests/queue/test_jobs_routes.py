"""Jobs over HTTP: create, read, cancel, retry, batch, venue scoping and Idempotency-Key."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import httpx
from tests.support import auth_header

JOBS = "/api/v1/queue/jobs"


def _job(**extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "queue": "background",
        "type": "analytics-track",
        "data": {"event_type": "page_view", "properties": {"n": uuid.uuid4().hex}},
    }
    body.update(extra)
    return body


async def test_create_read_cancel_retry(
    client: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    service = auth_header(token_for("service"))
    created = await client.post(
        JOBS, json=_job(options={"priority": 2, "delay": 60_000}), headers=service
    )
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert data["queue"] == "background" and data["status"] == "queued"
    job_id = data["job_id"]

    read = await client.get(f"{JOBS}/{job_id}", headers=service)
    assert read.status_code == 200
    job = read.json()["data"]
    assert job["priority"] == 2 and job["payload"]["event_type"] == "page_view"

    retry_queued = await client.post(f"{JOBS}/{job_id}/retry", headers=service)
    assert retry_queued.status_code == 409 and retry_queued.json()["code"] == "CONFLICT"

    cancelled = await client.delete(f"{JOBS}/{job_id}", headers=service)
    assert cancelled.status_code == 200 and cancelled.json()["data"]["status"] == "cancelled"

    retried = await client.post(f"{JOBS}/{job_id}/retry", headers=service)
    assert retried.status_code == 200 and retried.json()["data"]["status"] == "queued"

    missing = await client.get(f"{JOBS}/{uuid.uuid4()}", headers=service)
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"


async def test_invalid_jobs_are_422_in_the_envelope(
    client: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    admin = auth_header(token_for("admin"))
    cases = [
        _job(queue="money"),  # type of another queue
        _job(type="no-such-type"),
        _job(options={"delay": -1}),
        _job(options={"attempts": 0}),
        _job(venue_id="not-a-uuid"),
        _job(options={"idempotency_key": "has spaces"}),
        _job(data={"properties": {}}),  # no event_type
    ]
    for body in cases:
        response = await client.post(JOBS, json=body, headers=admin)
        assert response.status_code == 422, (body, response.text)
        payload = response.json()
        assert payload["success"] is False and payload["code"] == "VALIDATION_ERROR"
        assert payload["details"]


async def test_venue_admin_sees_only_their_venues(
    client: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    mine, other = str(uuid.uuid4()), str(uuid.uuid4())
    venue_admin = auth_header(token_for("venue_admin", venue_ids=[mine]))
    service = auth_header(token_for("service"))

    own = await client.post(JOBS, json=_job(venue_id=mine), headers=venue_admin)
    assert own.status_code == 201
    own_id_early = own.json()["data"]["job_id"]
    foreign_create = await client.post(JOBS, json=_job(venue_id=other), headers=venue_admin)
    assert foreign_create.status_code == 404
    no_venue = await client.post(JOBS, json=_job(), headers=venue_admin)
    assert no_venue.status_code == 422

    foreign = await client.post(JOBS, json=_job(venue_id=other), headers=service)
    foreign_id = foreign.json()["data"]["job_id"]
    assert (await client.get(f"{JOBS}/{foreign_id}", headers=venue_admin)).status_code == 404
    # Venue admins create and read; cancelling is for services and admins.
    assert (await client.delete(f"{JOBS}/{own_id_early}", headers=venue_admin)).status_code == 403
    own_id = own.json()["data"]["job_id"]
    assert (await client.get(f"{JOBS}/{own_id}", headers=venue_admin)).status_code == 200

    listed = await client.get("/api/v1/queue/queues/background/jobs?limit=100", headers=venue_admin)
    assert listed.status_code == 200
    venues = {job["venue_id"] for job in listed.json()["data"]}
    assert venues == {mine}


async def test_batch_validates_each_job(
    client: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    service = auth_header(token_for("service"))
    batch = {"jobs": [_job(), _job(type="nope"), _job(options={"priority": 0}), _job()]}
    response = await client.post(f"{JOBS}/batch", json=batch, headers=service)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert (data["total"], data["succeeded"], data["failed"]) == (4, 2, 2)
    results = data["results"]
    assert [r["success"] for r in results] == [True, False, False, True]
    assert results[1]["code"] == "VALIDATION_ERROR" and results[1]["details"]
    for r in (results[0], results[3]):
        job = await client.get(f"{JOBS}/{r['job']['job_id']}", headers=service)
        assert job.status_code == 200

    all_bad = await client.post(f"{JOBS}/batch", json={"jobs": [_job(type="x")]}, headers=service)
    assert all_bad.status_code == 422 and all_bad.json()["code"] == "VALIDATION_ERROR"
    empty = await client.post(f"{JOBS}/batch", json={"jobs": []}, headers=service)
    assert empty.status_code == 422


async def test_idempotency_key_replays_and_conflicts(
    client: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    service = auth_header(token_for("service", sub=f"svc-{uuid.uuid4().hex}"))
    key = f"order-{uuid.uuid4().hex}"
    body = _job()
    first = await client.post(JOBS, json=body, headers={**service, "Idempotency-Key": key})
    assert first.status_code == 201
    again = await client.post(JOBS, json=body, headers={**service, "Idempotency-Key": key})
    assert again.status_code == 201 and again.json() == first.json()

    different = await client.post(JOBS, json=_job(), headers={**service, "Idempotency-Key": key})
    assert different.status_code == 409 and different.json()["code"] == "CONFLICT"

    bad: str | bytes
    for bad in ("x" * 256, "spaces are bad", "semi;colon", "\u00fc".encode()):
        invalid = await client.post(JOBS, json=body, headers={**service, "Idempotency-Key": bad})
        assert invalid.status_code == 422, bad

    # Another caller's identical key is a different scope: a new job, not a replay.
    other = auth_header(token_for("service", sub=f"svc-{uuid.uuid4().hex}"))
    theirs = await client.post(JOBS, json=body, headers={**other, "Idempotency-Key": key})
    assert theirs.status_code == 201
    assert theirs.json()["data"]["job_id"] != first.json()["data"]["job_id"]


async def test_concurrent_requests_with_one_key_create_one_job(
    client: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    service = auth_header(token_for("service", sub=f"svc-{uuid.uuid4().hex}"))
    key = f"k-{uuid.uuid4().hex}"
    body = _job()
    responses = await asyncio.gather(
        *(
            client.post(JOBS, json=body, headers={**service, "Idempotency-Key": key})
            for _ in range(8)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, statuses
    ids = {r.json()["data"]["job_id"] for r in responses if r.status_code == 201}
    assert len(ids) == 1
    # Every 409 here is "still in progress"; once done, a repeat replays.
    replay = await client.post(JOBS, json=body, headers={**service, "Idempotency-Key": key})
    assert replay.status_code == 201 and replay.json()["data"]["job_id"] in ids


async def test_payment_jobs_are_one_per_order(
    client: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    service = auth_header(token_for("service"))
    order = str(uuid.uuid4())
    body = {
        "queue": "money",
        "type": "payment-process",
        "data": {"order_id": order, "amount_cents": 1500, "currency": "usd"},
        "options": {"delay": 3_600_000},
    }
    first = await client.post(JOBS, json=body, headers=service)
    second = await client.post(JOBS, json=body, headers=service)
    assert first.status_code == 201 and second.status_code == 200
    assert second.json()["data"]["created"] is False
    assert first.json()["data"]["job_id"] == second.json()["data"]["job_id"]
    # Same amount, another order: a second legitimate purchase is a second job.
    other = {**body, "data": {**body["data"], "order_id": str(uuid.uuid4())}}
    third = await client.post(JOBS, json=other, headers=service)
    assert third.status_code == 201
    assert third.json()["data"]["job_id"] != first.json()["data"]["job_id"]
    await client.delete(f"{JOBS}/{first.json()['data']['job_id']}", headers=service)
    await client.delete(f"{JOBS}/{third.json()['data']['job_id']}", headers=service)


async def test_text_postgresql_cannot_store_is_422_not_500(
    client: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    service = auth_header(token_for("service"))
    nul = _job(data={"event_type": "page_view", "properties": {"note": "a\u0000b"}})
    response = await client.post(JOBS, json=nul, headers=service)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "VALIDATION_ERROR"
    surrogate = (
        '{"queue": "background", "type": "analytics-track", "data": {"event_type": "\\ud800"}}'
    )
    response = await client.post(
        JOBS, content=surrogate, headers={**service, "Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text


async def test_get_on_the_batch_path_is_405_naming_post(
    client: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    response = await client.get(f"{JOBS}/batch", headers=auth_header(token_for("service")))
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "POST"


async def test_openapi_documents_contracts_and_content_types(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    dashboard = "/api/v1/queue/dashboard"
    assert "text/javascript" in paths[f"{dashboard}/app.js"]["get"]["responses"]["200"]["content"]
    assert "text/html" in paths[dashboard]["get"]["responses"]["200"]["content"]
    prometheus = paths["/api/v1/queue/metrics/prometheus"]["get"]["responses"]["200"]
    assert list(prometheus["content"]) == ["text/plain"]
    create = paths[JOBS]["post"]
    assert {"201", "401", "403", "409", "422", "503"} <= set(create["responses"])


async def test_a_job_id_that_is_not_a_uuid_is_not_found(
    client: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    service = auth_header(token_for("service"))
    for method, path in (("GET", "not-a-uuid"), ("POST", "not-a-uuid/retry")):
        response = await client.request(method, f"{JOBS}/{path}", headers=service)
        assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"
