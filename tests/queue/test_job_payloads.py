"""Job payloads are validated when enqueued (issue 7, item 19): 422 with the field and nothing
stored; the original platform's camelCase names are accepted and stored as snake_case; the batch
route also takes the original's ``{queue, jobs: [...]}`` shape."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from tests.support import auth_header

from tickettoken.kit.db import Database
from tickettoken.kit.errors import ValidationFailed
from tickettoken.kit.jobs import JOB_TYPES, enqueue

JOBS = "/api/v1/queue/jobs"
VENUE = str(uuid.uuid4())
TEMPLATE_DATA = {"event_name": "Gala", "reason": "weather"}

# (type, data, a field the 422 must name)
INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("analytics-track", {}, "event_type"),
    ("analytics-track", {"eventType": 5}, "event_type"),
    ("analytics-track", {"event_type": "x", "venue_id": "not-a-uuid"}, "venue_id"),
    ("analytics-track", {"event_type": "x", "timestamp": "yesterday"}, "occurred_at"),
    ("analytics-track", {"event_type": "x", "surprise": 1}, "surprise"),
    ("payment-process", {"order_id": str(uuid.uuid4()), "amount_cents": "100"}, "amount_cents"),
    ("payment-process", {"order_id": str(uuid.uuid4()), "amount_cents": -1}, "amount_cents"),
    ("payment-process", {"order_id": str(uuid.uuid4())}, "amount_cents"),
    ("payment-process", {"amount_cents": 100}, "order_id"),
    ("payment-process", {"order_id": "o-1", "amount_cents": 100}, "order_id"),
    ("refund-process", {"refund_id": "r1", "amount_cents": 100}, "payment_intent_id"),
    ("refund-process", {"refund_id": "r1", "payment_intent_id": "pi_1", "reason": "x"}, "reason"),
    ("payout-process", {"venue_id": VENUE, "amount_cents": 100}, "payout_id"),
    ("payout-process", {"payout_id": "p1", "amount_cents": 100}, "venue_id"),
    ("nft-mint", {"ticket_id": "t1"}, "owner"),
    ("send-email", {"to": "not-an-address", "template": "event-cancelled"}, "to"),
    ("send-email", {"to": "a@example.com", "template": "free-text"}, "template"),
    ("send-email", {"to": "a@example.com", "subject": "Pay here", "text": "http://x"}, "subject"),
    ("send-email", {"to": "a@example.com", "template": "event-cancelled", "data": {}}, "data"),
    (
        "send-email",
        {
            "to": "a@example.com",
            "template": "event-cancelled",
            "data": {**TEMPLATE_DATA, "reason": "x\nBcc: all@example.com"},
        },
        "data",
    ),
    ("send-sms", {"to": "12", "template": "event-cancelled", "data": TEMPLATE_DATA}, "to"),
    ("send-sms", {"to": "+15550001234", "body": "free text"}, "body"),
    ("send-push", {"template": "event-cancelled", "data": TEMPLATE_DATA}, "token"),
    ("cleanup-old-data", {"jobs_days": "90"}, "jobs_days"),
    ("generate-report", {"report_type": "everything"}, "report_type"),
    ("generate-report", {"report_type": "queue-activity", "parameters": {"from": "x"}}, "from"),
    ("sync", {}, "provider"),
    ("webhook", {"provider": ""}, "provider"),
]


def _body(job_type: str, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"queue": JOB_TYPES[job_type], "type": job_type, "data": data, **extra}


async def _count(database_url: str, queue: str) -> int:
    """Jobs of the queue, less the day's ``cleanup-old-data``: the first queue app of a session
    enqueues it in the background (queue/maintenance.py), at any moment of a test."""
    database = Database(database_url, pool_min=1, pool_max=2)
    try:
        async with database.transaction() as session:
            found = await session.execute(
                text(f"SELECT count(*) FROM jobs_{queue} WHERE type <> 'cleanup-old-data'")
            )
            return int(found.scalar_one())
    finally:
        await database.dispose()


@pytest.mark.parametrize(("job_type", "data", "field"), INVALID)
async def test_invalid_payload_is_422_naming_the_field_and_stores_nothing(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    database_url: str,
    job_type: str,
    data: dict[str, Any],
    field: str,
) -> None:
    service = auth_header(token_for("service"))
    before = await _count(database_url, JOB_TYPES[job_type])
    response = await client.post(JOBS, json=_body(job_type, data), headers=service)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert any(field in detail["field"] for detail in body["details"]), body["details"]
    assert await _count(database_url, JOB_TYPES[job_type]) == before


@pytest.mark.parametrize(
    "content",
    [
        b'{"queue":"background","type":"analytics-track","data":{"event_type":"a\\u0000b"}}',
        b'{"queue":"background","type":"analytics-track","data":{"event_type":"\\ud800"}}',
        b'{"queue":"background","type":"analytics-track","data":{"event_type":"x",'
        b'"properties":{"k\\u0000":"v"}}}',
        b'{"queue":"background","type":"analytics-track","data":{"event_type":"x",'
        b'"properties":{"k":["a\\u0000b"]}}}',
    ],
)
async def test_nul_and_lone_surrogates_are_422_not_500(
    client: httpx.AsyncClient, token_for: Callable[..., str], content: bytes
) -> None:
    headers = {**auth_header(token_for("service")), "Content-Type": "application/json"}
    response = await client.post(JOBS, content=content, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "VALIDATION_ERROR"
    batch = b'{"jobs":[' + content + b"]}"
    response = await client.post(f"{JOBS}/batch", content=batch, headers=headers)
    assert response.status_code == 422, response.text


async def _stored_payload(client: httpx.AsyncClient, headers: dict[str, str], body: Any) -> Any:
    created = await client.post(JOBS, json=body, headers=headers)
    assert created.status_code == 201, created.text
    job = await client.get(f"{JOBS}/{created.json()['data']['job_id']}", headers=headers)
    return job.json()["data"]


async def test_original_camel_case_payloads_are_accepted_and_stored_snake_case(
    client: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    service = auth_header(token_for("service"))
    analytics = await _stored_payload(
        client,
        service,
        _body(
            "analytics-track",
            {
                "eventType": "ticket_viewed",
                "venueId": VENUE,
                "userId": "u-1",
                "eventId": "e-1",
                "data": {"seat": "A1"},
                "timestamp": "2026-11-27T10:00:00Z",
            },
        ),
    )
    assert analytics["payload"] == {
        "event_type": "ticket_viewed",
        "venue_id": VENUE,
        "user_id": "u-1",
        "event_id": "e-1",
        "properties": {"seat": "A1"},
        "occurred_at": "2026-11-27T10:00:00Z",
    }
    assert analytics["venue_id"] == VENUE  # the job belongs to the payload's venue

    order = str(uuid.uuid4())
    payment = await _stored_payload(
        client,
        service,
        _body(
            "payment-process",
            {
                "orderId": order,
                "userId": "u-1",
                "venueId": VENUE,
                "eventId": "e-1",
                "amount": 180.5,
                "paymentMethod": "pm_card_visa",
            },
        ),
    )
    assert payment["payload"] == {
        "order_id": order,
        "user_id": "u-1",
        "venue_id": VENUE,
        "event_id": "e-1",
        "amount_cents": 18050,
        "payment_method": "pm_card_visa",
    }
    # Scoped to the venue the service acts for (tests/security/test_money_jobs.py).
    assert payment["idempotency_key"] == f"venue:{VENUE}/payment:order:{order}"

    refund = await _stored_payload(
        client,
        service,
        _body(
            "refund-process",
            {
                "transactionId": "pi_123",
                "amount": 20,
                "reason": "requested_by_customer",
                "userId": "u-1",
                "venueId": VENUE,
            },
        ),
    )
    assert refund["payload"]["payment_intent_id"] == "pi_123"
    assert refund["payload"]["amount_cents"] == 2000
    assert refund["payload"]["refund_id"] == "pi_123"

    ticket = str(uuid.uuid4())
    mint = await _stored_payload(
        client,
        service,
        _body(
            "nft-mint",
            {
                "eventId": "e-1",
                "ticketId": ticket,
                "seatId": "A1",
                "userId": "u-1",
                "venueId": VENUE,
                "metadata": {"name": "Gala A1"},
                "owner": "wallet-1",
            },
        ),
    )
    assert mint["payload"]["ticket_id"] == ticket and mint["payload"]["seat_id"] == "A1"

    payout = await _stored_payload(
        client,
        service,
        _body("payout-process", {"venueId": VENUE, "period": "2026-10", "amountCents": 100}),
    )
    assert payout["payload"]["payout_id"] == f"{VENUE}:2026-10"

    email = await _stored_payload(
        client,
        service,
        _body(
            "send-email",
            {"to": "fan@example.com", "template": "event-cancelled", "data": TEMPLATE_DATA},
        ),
    )
    assert email["payload"]["template"] == "event-cancelled"
    sms = await _stored_payload(
        client,
        service,
        _body(
            "send-sms", {"to": "+15550001234", "template": "event-cancelled", "data": TEMPLATE_DATA}
        ),
    )
    assert sms["payload"]["to"] == "+15550001234"


async def test_payload_venue_must_match_the_job_venue(
    client: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    venue_admin = auth_header(token_for("venue_admin", venue_ids=[VENUE]))
    other = str(uuid.uuid4())
    body = _body("analytics-track", {"eventType": "x", "venueId": other}, venue_id=VENUE)
    response = await client.post(JOBS, json=body, headers=venue_admin)
    assert response.status_code == 409, response.text  # the request contradicts itself
    only_payload = _body("analytics-track", {"eventType": "x", "venueId": other})
    response = await client.post(JOBS, json=only_payload, headers=venue_admin)
    assert response.status_code == 404, response.text
    own = _body("analytics-track", {"eventType": "x", "venueId": VENUE})
    response = await client.post(JOBS, json=own, headers=venue_admin)
    assert response.status_code == 201, response.text


async def test_batch_accepts_the_original_queue_and_jobs_shape(
    client: httpx.AsyncClient, token_for: Callable[..., str], database_url: str
) -> None:
    service = auth_header(token_for("service"))
    before = await _count(database_url, "background")
    batch = {
        "queue": "background",
        "jobs": [
            {"type": "analytics-track", "data": {"eventType": "a"}},
            {"type": "analytics-track", "data": {"eventType": 7}},
            {"type": "analytics-track", "data": {"eventType": "b"}, "options": {"priority": 1}},
            {"type": "send-email", "data": {"to": "a@example.com"}},
        ],
    }
    response = await client.post(f"{JOBS}/batch", json=batch, headers=service)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert [r["success"] for r in data["results"]] == [True, False, True, False]
    assert any("event_type" in d["field"] for d in data["results"][1]["details"])
    assert await _count(database_url, "background") == before + 2

    all_bad = {"queue": "background", "jobs": [{"type": "analytics-track", "data": {}}]}
    response = await client.post(f"{JOBS}/batch", json=all_bad, headers=service)
    assert response.status_code == 422
    assert await _count(database_url, "background") == before + 2


async def test_platform_enqueue_validates_the_same_payloads(database_url: str) -> None:
    database = Database(database_url, pool_min=1, pool_max=2)
    try:
        with pytest.raises(ValidationFailed) as refused:
            async with database.transaction() as session:
                await enqueue(
                    session, queue="background", type="analytics-track", payload={"eventTyp": "x"}
                )
        assert any("event_type" in d["field"] for d in refused.value.details or [])
        async with database.transaction() as session:
            job = await enqueue(
                session, queue="background", type="analytics-track", payload={"eventType": "x"}
            )
        assert job.created
    finally:
        await database.dispose()
