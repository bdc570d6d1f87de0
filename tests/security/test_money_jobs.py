# ruff: noqa: F811  (the fixtures imported below are parameters of the tests)
"""Attack tests of issue 7 (money jobs): money moves only for orders, refunds and payouts the
platform created; job keys never cross tenants; the sandbox's controls need its key; refunds show
pending until the provider confirms them.

Made as the attack was made: over HTTP against the event and queue services, with a real worker
(every handler plus the event service's result callbacks) and the payments sandbox as a process.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.events.orders import test_orders_api as orders_api
from tests.events.orders.conftest import (  # noqa: F401
    RunJobs,
    payment_sandbox,
    run_money_jobs,
    sales_database,
)
from tests.events.reservations.sales_fixtures import (  # noqa: F401
    committed_session,
    customer_headers,
    sales_client,
)
from tests.queue.handlers.handler_processes import SANDBOX_KEY
from tests.support import auth_header, running_app

from tickettoken.kit.db import Database
from tickettoken.kit.jobs import enqueue
from tickettoken.kit.settings import Settings
from tickettoken.queue.app import create_app as create_queue_app
from tickettoken.queue.monitoring.config import MonitorConfig

Headers = Callable[[str], dict[str, str]]
Token = Callable[..., str]


@pytest.fixture
async def queue_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_queue_app(settings, MonitorConfig(monitor_enabled=False))
    async with running_app(app) as http:
        yield http


def _stats(payment_sandbox: tuple[str, int]) -> dict[str, Any]:
    stats: dict[str, Any] = httpx.get(f"{payment_sandbox[0]}/_sandbox/payments/stats").json()
    return stats


async def _post_job(
    client: httpx.AsyncClient, token: str, type_: str, data: dict[str, Any], **extra: Any
) -> httpx.Response:
    body = {"queue": "money", "type": type_, "data": data, **extra}
    return await client.post("/api/v1/queue/jobs", json=body, headers=auth_header(token))


async def _pending_order(
    client: httpx.AsyncClient,
    session: AsyncSession,
    headers: Headers,
    price: Decimal = Decimal("90.00"),
    quantity: int = 2,
) -> tuple[orders_api.Catalog, dict[str, Any], dict[str, str]]:
    catalog, buyer, held = await orders_api.new_buyer_hold(
        client, session, headers, quantity, quantity=20, price=price
    )
    response = await orders_api.confirm(client, held["id"], buyer)
    assert response.status_code == 201, response.text
    return catalog, response.json()["data"], buyer


PaidOrder = tuple[orders_api.Catalog, dict[str, Any], dict[str, str]]


@pytest.fixture
async def paid_order(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    customer_headers: Headers,
    run_money_jobs: RunJobs,
) -> PaidOrder:
    """An order its buyer has paid through the worker: ``(catalog, order, buyer's headers)``."""
    catalog, order, buyer = await _pending_order(sales_client, committed_session, customer_headers)
    [job] = await run_money_jobs([order["payment_job_id"]])
    assert job.status == "completed", job.last_error
    paid = (await sales_client.get(f"/api/v1/orders/{order['id']}", headers=buyer)).json()["data"]
    assert paid["status"] == "paid"
    return catalog, paid, buyer


async def _refund_in_full(
    client: httpx.AsyncClient, token_for: Token, catalog: orders_api.Catalog, order: Any
) -> str:
    """The venue's administrator refunds the whole order; returns the refund's job id."""
    manager = auth_header(token_for("venue_admin", venue_ids=[str(catalog.venue_id)]))
    queued = await client.post(f"/api/v1/orders/{order['id']}/refund", json={}, headers=manager)
    assert queued.status_code == 202, queued.text
    job_id: str = queued.json()["data"]["refund"]["job_id"]
    return job_id


async def _order(client: httpx.AsyncClient, order_id: str, headers: dict[str, str]) -> Any:
    return (await client.get(f"/api/v1/orders/{order_id}", headers=headers)).json()["data"]


# --- item 1: payments ----------------------------------------------------------------------------


async def test_payment_jobs_for_orders_that_do_not_exist_fail_before_any_charge(
    queue_client: httpx.AsyncClient,
    token_for: Token,
    run_money_jobs: RunJobs,
    payment_sandbox: tuple[str, int],
) -> None:
    service = token_for("service", sub="svc-payments")
    order_ids = [str(uuid.uuid4()) for _ in range(3)]
    job_ids = []
    for order_id in order_ids:
        data = {"order_id": order_id, "amount_cents": 500, "currency": "usd"}
        response = await _post_job(queue_client, service, "payment-process", data)
        assert response.status_code == 201, response.text
        job_ids.append(response.json()["data"]["job_id"])
    jobs = await run_money_jobs(job_ids)
    assert [(job.status, job.attempts) for job in jobs] == [("failed", 1)] * 3
    assert all("does not exist" in (job.last_error or "") for job in jobs)
    # Other tests' real orders may be charged by the same worker run; these never reach it.
    assert not set(order_ids) & set(_stats(payment_sandbox)["orders_with_intents"])


async def test_a_foreign_payment_job_with_its_own_amount_and_key_never_pays_the_order(
    sales_client: httpx.AsyncClient,
    queue_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    customer_headers: Headers,
    token_for: Token,
    run_money_jobs: RunJobs,
    payment_sandbox: tuple[str, int],
) -> None:
    catalog, order, buyer = await _pending_order(sales_client, committed_session, customer_headers)
    assert order["total"] == "180.00"
    service = token_for("service", sub="svc-payments")
    data = {"order_id": order["id"], "amount_cents": 1, "currency": "usd"}
    response = await _post_job(
        queue_client,
        service,
        "payment-process",
        data,
        venue_id=str(catalog.venue_id),
        options={"idempotency_key": f"cheap-{uuid.uuid4().hex}"},
    )
    assert response.status_code == 201, response.text
    before = _stats(payment_sandbox)
    # The worker also runs the order's own job (queued since the confirmation): one charge only.
    foreign, own = await run_money_jobs(
        [response.json()["data"]["job_id"], order["payment_job_id"]]
    )
    assert foreign.status == "failed" and foreign.attempts == 1
    assert "not the payment job" in (foreign.last_error or "")
    assert own.status == "completed" and own.result is not None
    assert own.result["amount_cents"] == 18_000
    assert _stats(payment_sandbox)["charges"] == before["charges"] + 1
    paid = await _order(sales_client, order["id"], buyer)
    assert paid["status"] == "paid" and paid["payment_intent_id"] == own.result["payment_intent_id"]


async def test_a_payment_result_that_does_not_match_its_order_changes_nothing(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    customer_headers: Headers,
    sales_database: Database,
) -> None:
    from tickettoken.events.orders import tasks
    from tickettoken.queue.engine import get_job

    _, order, buyer = await _pending_order(sales_client, committed_session, customer_headers)
    async with sales_database.transaction() as session:
        job = await get_job(session, order["payment_job_id"])
        assert job is not None
        cheap = {
            "order_id": order["id"],
            "payment_intent_id": "pi_cheap",
            "amount_cents": 1,
            "currency": "usd",
        }
        await tasks.on_payment_completed(session, job, cheap)
    after = await _order(sales_client, order["id"], buyer)
    assert after["status"] == "pending" and after["payment_intent_id"] is None


# --- item 1: refunds -----------------------------------------------------------------------------


async def test_a_refund_job_the_platform_did_not_create_moves_no_money(
    sales_client: httpx.AsyncClient,
    queue_client: httpx.AsyncClient,
    token_for: Token,
    run_money_jobs: RunJobs,
    payment_sandbox: tuple[str, int],
    paid_order: PaidOrder,
) -> None:
    catalog, paid, buyer = paid_order
    service = token_for("service", sub="svc-refunds")
    data = {
        "refund_id": str(uuid.uuid4()),
        "order_id": paid["id"],
        "payment_intent_id": paid["payment_intent_id"],
        "amount_cents": 18_000,
    }
    response = await _post_job(
        queue_client, service, "refund-process", data, venue_id=str(catalog.venue_id)
    )
    before = _stats(payment_sandbox)
    [job] = await run_money_jobs([response.json()["data"]["job_id"]])
    assert job.status == "failed" and "refund" in (job.last_error or "")
    assert _stats(payment_sandbox)["refunds"] == before["refunds"]
    after = await _order(sales_client, paid["id"], buyer)
    assert after["status"] == "paid" and after["refunded_amount"] == "0.00"


async def test_a_failing_foreign_refund_never_flips_a_refunded_order_back_to_paid(
    sales_client: httpx.AsyncClient,
    queue_client: httpx.AsyncClient,
    token_for: Token,
    run_money_jobs: RunJobs,
    paid_order: PaidOrder,
) -> None:
    catalog, paid, buyer = paid_order
    refund_job_id = await _refund_in_full(sales_client, token_for, catalog, paid)
    [refund_job] = await run_money_jobs([refund_job_id])
    assert refund_job.status == "completed", refund_job.last_error
    refunded = await _order(sales_client, paid["id"], buyer)
    assert refunded["status"] == "refunded"
    attacker = token_for("service", sub="svc-other")
    data = {
        "refund_id": str(uuid.uuid4()),
        "order_id": paid["id"],
        "payment_intent_id": "pi_does_not_exist",
        "amount_cents": 18_000,
    }
    response = await _post_job(queue_client, attacker, "refund-process", data)
    [job] = await run_money_jobs([response.json()["data"]["job_id"]])
    assert job.status in ("failed", "dead")
    after = await _order(sales_client, paid["id"], buyer)
    assert after["status"] == "refunded" and after["refunded_amount"] == "180.00"
    assert {t["status"] for t in after["tickets"]} == {"refunded"}


# --- item 1: payouts -----------------------------------------------------------------------------


async def test_a_payout_needs_a_payout_record_the_platform_created(
    queue_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    token_for: Token,
    run_money_jobs: RunJobs,
    payment_sandbox: tuple[str, int],
    sales_database: Database,
) -> None:
    from tickettoken.events.payouts.service import create_payout

    catalog = await orders_api.committed_catalog(committed_session)
    service = token_for("service", sub="svc-payouts")
    invented = {
        "payout_id": str(uuid.uuid4()),
        "venue_id": str(catalog.venue_id),
        "amount_cents": 99_999_999,
        "currency": "usd",
        "destination": "acct_attacker",
    }
    response = await _post_job(queue_client, service, "payout-process", invented)
    before = _stats(payment_sandbox)
    [job] = await run_money_jobs([response.json()["data"]["job_id"]])
    assert job.status == "failed" and "payout" in (job.last_error or "")
    assert _stats(payment_sandbox)["payouts"] == before["payouts"]

    async with sales_database.transaction() as session:
        payout = await create_payout(
            session,
            venue_id=catalog.venue_id,
            amount=Decimal("1250.00"),
            currency="USD",
            destination="acct_venue_bank",
        )
    rerouted = {**invented, "payout_id": str(payout.id)}
    response = await _post_job(queue_client, service, "payout-process", rerouted)
    [foreign, own] = await run_money_jobs([response.json()["data"]["job_id"], str(payout.job_id)])
    assert foreign.status == "failed"
    assert own.status == "completed" and own.result is not None
    assert own.result["amount_cents"] == 125_000
    assert own.result["destination"] == "acct_venue_bank"
    row = (
        (
            await committed_session.execute(
                text("SELECT status, provider_payout_id FROM payouts WHERE id = :id"),
                {"id": payout.id},
            )
        )
        .mappings()
        .one()
    )
    await committed_session.commit()
    assert row["status"] == "paid" and row["provider_payout_id"].startswith("po_")
    assert _stats(payment_sandbox)["payouts"] == before["payouts"] + 1


# --- item 4: keys are scoped per tenant ----------------------------------------------------------


async def test_a_duplicate_key_never_returns_another_tenants_job(
    sales_client: httpx.AsyncClient,
    queue_client: httpx.AsyncClient,
    token_for: Token,
    paid_order: PaidOrder,
) -> None:
    _, paid, _ = paid_order
    venue_b = str(uuid.uuid4())
    service_b = token_for("service", sub="svc-venue-b")
    data = {"order_id": paid["id"], "amount_cents": 18_000, "currency": "usd"}
    response = await _post_job(queue_client, service_b, "payment-process", data, venue_id=venue_b)
    assert response.status_code == 201, response.text
    answer = response.json()["data"]
    assert answer["created"] is True and answer["result"] is None
    assert answer["job_id"] != paid["payment_job_id"]
    assert paid["payment_intent_id"] not in response.text

    key = f"report-{uuid.uuid4().hex}"
    venue_a = str(uuid.uuid4())
    jobs = []
    for venue in (venue_a, venue_b):
        body = {
            "queue": "background",
            "type": "analytics-track",
            "data": {"event_type": "page_view", "venue_id": venue},
            "venue_id": venue,
            "options": {"idempotency_key": key},
        }
        admin = auth_header(token_for("venue_admin", venue_ids=[venue]))
        response = await queue_client.post("/api/v1/queue/jobs", json=body, headers=admin)
        assert response.status_code == 201, response.text
        jobs.append(response.json()["data"])
    assert jobs[1]["created"] is True and jobs[1]["job_id"] != jobs[0]["job_id"]
    batch = await queue_client.post(
        "/api/v1/queue/jobs/batch",
        json={
            "jobs": [
                {"queue": "money", "type": "payment-process", "data": data, "venue_id": venue_b}
            ]
        },
        headers=auth_header(service_b),
    )
    assert batch.status_code == 201, batch.text
    (entry,) = batch.json()["data"]["results"]
    assert entry["job"]["job_id"] == answer["job_id"]  # the same tenant's own job, not venue A's
    assert paid["payment_intent_id"] not in batch.text


async def test_a_callers_key_never_blocks_the_platforms_later_job(
    queue_client: httpx.AsyncClient, token_for: Token, sales_database: Database
) -> None:
    ticket = str(uuid.uuid4())
    service = token_for("service", sub="svc-attacker")
    squat = await _post_job(
        queue_client,
        service,
        "nft-mint",
        {"ticket_id": ticket, "owner": "attacker-wallet"},
        venue_id=str(uuid.uuid4()),
    )
    assert squat.status_code == 201, squat.text
    async with sales_database.transaction() as session:
        legit = await enqueue(
            session,
            queue="money",
            type="nft-mint",
            payload={"ticket_id": ticket, "owner": "holder-wallet"},
        )
    assert legit.created is True
    assert legit.job_id != squat.json()["data"]["job_id"]
    assert legit.idempotency_key == f"nft:{ticket}"


# --- item 10: the sandbox ------------------------------------------------------------------------


async def test_sandbox_fault_injection_needs_the_sandbox_key(
    payment_sandbox: tuple[str, int],
) -> None:
    url = payment_sandbox[0]
    plan = {"status": 500, "count": 0}
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        for path in ("/_sandbox/payments/faults", "/_sandbox/faults"):
            assert (await client.post(path, json=plan)).status_code == 401
            other = {"Authorization": "Bearer sk_test_someone_else"}
            assert (await client.post(path, json=plan, headers=other)).status_code == 401
            own = {"Authorization": f"Bearer {SANDBOX_KEY}"}
            assert (await client.post(path, json=plan, headers=own)).status_code == 200


async def test_sandbox_refuses_a_payment_without_a_payment_method(
    payment_sandbox: tuple[str, int],
) -> None:
    before = _stats(payment_sandbox)
    async with httpx.AsyncClient(base_url=payment_sandbox[0], timeout=10) as client:
        response = await client.post(
            "/v1/payment_intents",
            data={"amount": "5000", "currency": "usd", "confirm": "true"},
            headers={"Authorization": f"Bearer {SANDBOX_KEY}"},
        )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert _stats(payment_sandbox)["charges"] == before["charges"]


# --- item 15: a refund is pending until the provider confirms it ---------------------------------


async def test_a_refund_shows_pending_until_the_provider_confirms_it(
    sales_client: httpx.AsyncClient,
    token_for: Token,
    run_money_jobs: RunJobs,
    paid_order: PaidOrder,
) -> None:
    catalog, paid, buyer = paid_order
    refund_job_id = await _refund_in_full(sales_client, token_for, catalog, paid)
    waiting = await _order(sales_client, paid["id"], buyer)
    assert waiting["status"] == "paid"
    assert waiting["refunded_amount"] == "0.00"
    assert waiting["pending_refund_amount"] == "180.00"
    assert [r["status"] for r in waiting["refunds"]] == ["pending"]
    assert {t["status"] for t in waiting["tickets"]} == {"issued"}
    [job] = await run_money_jobs([refund_job_id])
    assert job.status == "completed", job.last_error
    done = await _order(sales_client, paid["id"], buyer)
    assert done["status"] == "refunded" and done["refunded_amount"] == "180.00"
    assert done["pending_refund_amount"] == "0.00"
    assert [r["status"] for r in done["refunds"]] == ["succeeded"]
    assert {t["status"] for t in done["tickets"]} == {"refunded"}
