"""PostgreSQL stopped under load (issue 7, item 21): every route answers 503
``SERVICE_UNAVAILABLE`` with ``Retry-After``, each failure is one log line without a traceback,
and the services recover by themselves when the database is back.

The services run as real processes against a throwaway embedded PostgreSQL that the test stops
and restarts; the machine's shared server is never touched.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import httpx
from tests.events.reservations.sales_catalog import Catalog
from tests.faults.fault_servers import (
    ServiceProcess,
    ThrowawayPostgres,
    committed_catalog,
    service_process,
)
from tests.support import auth_header, make_settings

from tickettoken.kit.auth import mint_token


@dataclass(frozen=True)
class Call:
    name: str
    method: str
    url: str
    headers: dict[str, str]
    body: dict[str, object] | None = None


@dataclass(frozen=True)
class Answer:
    call: Call
    started: float
    status: int
    body: dict[str, object]
    retry_after: str | None
    request_id: str | None


def _token(role: str, **claims: object) -> dict[str, str]:
    return auth_header(mint_token(role=role, settings=make_settings(), **claims))  # type: ignore[arg-type]


def _calls(events: ServiceProcess, queue: ServiceProcess, catalog: Catalog) -> list[Call]:
    admin = _token("admin", sub="admin-faults")
    reserve = f"{events.url}/api/v1/events/{catalog.event_id}/reservations"
    tt = str(catalog.ticket_type_id)
    missing = uuid.uuid4()
    buyer = {"email": f"{uuid.uuid4().hex[:10]}@example.com", "first_name": "Ada"}
    return [
        # the three reservation paths: token only, with an Idempotency-Key, with a customer body
        Call(
            "reserve-token-only",
            "POST",
            reserve,
            _token("customer", sub=uuid.uuid4().hex),
            {"ticket_type_id": tt, "quantity": 1},
        ),
        Call(
            "reserve-idempotent",
            "POST",
            reserve,
            {**_token("customer", sub=uuid.uuid4().hex), "Idempotency-Key": uuid.uuid4().hex},
            {"ticket_type_id": tt, "quantity": 1},
        ),
        Call(
            "reserve-for-customer",
            "POST",
            reserve,
            admin,
            {"ticket_type_id": tt, "quantity": 1, "customer": buyer},
        ),
        Call("reservation", "GET", f"{events.url}/api/v1/reservations/{missing}", admin),
        Call("orders", "GET", f"{events.url}/api/v1/orders", admin),
        Call("venues", "GET", f"{events.url}/api/v1/venues", admin),
        Call(
            "venue-create",
            "POST",
            f"{events.url}/api/v1/venues",
            admin,
            {"name": f"Venue {missing.hex[:8]}", "capacity": 100, "city": "Springfield"},
        ),
        Call("sales-report", "GET", f"{events.url}/api/v1/reports/sales", admin),
        Call("queues", "GET", f"{queue.url}/api/v1/queue/queues", admin),
        Call("job", "GET", f"{queue.url}/api/v1/queue/jobs/{missing}", admin),
        Call("dead-letters", "GET", f"{queue.url}/api/v1/queue/dead-letter", admin),
        Call("metrics", "GET", f"{queue.url}/api/v1/queue/metrics/summary", admin),
        Call("alerts", "GET", f"{queue.url}/api/v1/queue/alerts", admin),
    ]


async def _send(http: httpx.AsyncClient, call: Call) -> Answer:
    started = time.monotonic()
    headers = dict(call.headers)
    if "Idempotency-Key" in headers:  # a new key each time: a new reservation, not a replay
        headers["Idempotency-Key"] = uuid.uuid4().hex
    response = await http.request(call.method, call.url, headers=headers, json=call.body)
    try:
        body = response.json()
    except ValueError:
        body = {"text": response.text}
    return Answer(
        call,
        started,
        response.status_code,
        body if isinstance(body, dict) else {"data": body},
        response.headers.get("Retry-After"),
        response.headers.get("X-Request-ID"),
    )


async def _load(http: httpx.AsyncClient, calls: list[Call], until: float) -> list[Answer]:
    """Every call over and over, eight at a time, until ``until``."""
    answers: list[Answer] = []

    async def lane(offset: int) -> None:
        index = offset
        while time.monotonic() < until:
            answers.append(await _send(http, calls[index % len(calls)]))
            index += 1

    await asyncio.gather(*(lane(i) for i in range(8)))
    return answers


def _is_unavailable_envelope(answer: Answer) -> bool:
    body = answer.body
    return (
        answer.status == 503
        and body.get("success") is False
        and body.get("code") == "SERVICE_UNAVAILABLE"
        and bool(body.get("request_id"))
        and answer.retry_after is not None
        and answer.retry_after.isdigit()
        and int(answer.retry_after) >= 1
    )


def _check_outage(
    answers: list[Answer], stopped_at: float, calls: list[Call], services: list[ServiceProcess]
) -> None:
    """Every answer after the stop is the 503 envelope; each failure is one log line."""
    down = [a for a in answers if a.started > stopped_at]
    assert len(down) >= 2 * len(calls), "the load did not reach every route while down"
    wrong = Counter(
        (a.call.name, a.status, str(a.body.get("code")))
        for a in down
        if not _is_unavailable_envelope(a)
    )
    assert not wrong, f"answers while the database was down: {wrong}"
    errors = Counter((a.call.name, a.status) for a in answers if a.status >= 500)
    assert {status for _, status in errors} == {503}, errors

    failed_ids = {a.request_id for a in answers if a.status == 503}
    records = [record for service in services for record in service.log_records()]
    per_request = Counter(r.get("request_id") for r in records if r.get("request_id"))
    repeated = [r for r in records if per_request[r.get("request_id")] > 1]
    assert all(per_request[rid] == 1 for rid in failed_ids), repeated[:5]
    traced = [r for r in records if r.get("request_id") in failed_ids and "exception" in r]
    assert not traced, traced[:2]
    tracebacks = [
        line
        for service in services
        for line in service.output().splitlines()
        if "Traceback" in line
    ]
    assert not tracebacks, tracebacks[:2]


async def test_every_route_answers_503_with_retry_after_while_the_database_is_down(
    throwaway_pg: ThrowawayPostgres,
) -> None:
    catalog = await committed_catalog(throwaway_pg.url)
    env = {"DATABASE_URL": throwaway_pg.url}
    with service_process("event", env) as events, service_process("queue", env) as queue:
        calls = _calls(events, queue, catalog)
        async with httpx.AsyncClient(timeout=20.0) as http:
            healthy = {c.name: (await _send(http, c)).status for c in calls}
            assert all(status < 500 for status in healthy.values()), healthy

            load = asyncio.create_task(_load(http, calls, time.monotonic() + 4.0))
            await asyncio.sleep(0.5)
            try:
                await asyncio.to_thread(throwaway_pg.stop)
                stopped_at = time.monotonic()
                answers = await load
                _check_outage(answers, stopped_at, calls, [events, queue])
            finally:
                await asyncio.to_thread(throwaway_pg.start)  # also for the next tests

            deadline = time.monotonic() + 15
            recovered: dict[str, int] = {}
            while time.monotonic() < deadline:
                recovered = {c.name: (await _send(http, c)).status for c in calls}
                if recovered == healthy:
                    break
                await asyncio.sleep(0.25)
            assert recovered == healthy
