"""Orders over HTTP and through the real job worker: confirmation (order, items, tickets and the
payment job in one transaction), payment results, late payments, refunds, visibility."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.events.orders.conftest import RunJobs
from tests.events.reports.sales_rows import insert_customer, insert_order
from tests.events.reservations.sales_catalog import Catalog, insert_catalog, ticket_counts
from tests.support import auth_header

from tickettoken.events.orders.event_cancellation import cancel_event_orders
from tickettoken.events.orders.payment_results import cancel_unpaid_orders
from tickettoken.kit.db import Database

Headers = Callable[[str], dict[str, str]]


async def committed_catalog(session: AsyncSession, **options: Any) -> Catalog:
    catalog = await insert_catalog(session, **options)
    await session.commit()
    return catalog


async def hold(
    client: httpx.AsyncClient, catalog: Catalog, headers: dict[str, str], quantity: int
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/events/{catalog.event_id}/reservations",
        json={
            "ticket_type_id": str(catalog.ticket_type_id),
            "quantity": quantity,
            "customer": {"email": f"{uuid.uuid4().hex[:12]}@example.com", "first_name": "Bo"},
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def new_buyer_hold(
    client: httpx.AsyncClient,
    session: AsyncSession,
    customer_headers: Headers,
    tickets: int,
    **catalog_options: Any,
) -> tuple[Catalog, dict[str, str], dict[str, Any]]:
    """A fresh catalog, a new buyer and the buyer's hold of ``tickets`` tickets in it."""
    catalog = await committed_catalog(session, **catalog_options)
    buyer = customer_headers(f"buyer-{uuid.uuid4().hex}")
    return catalog, buyer, await hold(client, catalog, buyer, tickets)


async def confirm(
    client: httpx.AsyncClient, reservation_id: str, headers: dict[str, str], **body: Any
) -> httpx.Response:
    return await client.post(
        f"/api/v1/reservations/{reservation_id}/confirm", json=body or None, headers=headers
    )


async def scalar(session: AsyncSession, sql: str, **params: Any) -> Any:
    value = (await session.execute(text(sql), params)).scalar_one()
    await session.commit()
    return value


async def test_confirmation_creates_order_tickets_and_payment_job_together(
    sales_client: httpx.AsyncClient, committed_session: AsyncSession, customer_headers: Headers
) -> None:
    _catalog, buyer, held = await new_buyer_hold(
        sales_client, committed_session, customer_headers, 3, price=Decimal("12.50")
    )
    response = await confirm(sales_client, held["id"], buyer)
    assert response.status_code == 201, response.text
    order = response.json()["data"]
    assert order["status"] == "pending"
    assert order["total"] == "37.50"
    assert len(order["tickets"]) == 3
    assert {t["status"] for t in order["tickets"]} == {"pending"}
    assert order["items"][0]["quantity"] == 3
    payload = await scalar(
        committed_session,
        "SELECT payload FROM jobs_money WHERE job_uuid = :id AND type = 'payment-process'",
        id=order["payment_job_id"],
    )
    assert payload["order_id"] == order["id"]
    assert payload["amount_cents"] == 3750
    again = await sales_client.get(f"/api/v1/reservations/{held['id']}", headers=buyer)
    assert again.json()["data"]["status"] == "confirmed"
    assert again.json()["data"]["order_id"] == order["id"]
    assert (await confirm(sales_client, held["id"], buyer)).status_code == 409


async def test_a_failed_confirmation_leaves_no_order_and_no_job(
    sales_client: httpx.AsyncClient, committed_session: AsyncSession, customer_headers: Headers
) -> None:
    catalog, buyer, held = await new_buyer_hold(
        sales_client, committed_session, customer_headers, 1
    )
    await committed_session.execute(
        text("UPDATE events SET status = 'cancelled' WHERE id = :id"), {"id": catalog.event_id}
    )
    await committed_session.commit()
    assert (await confirm(sales_client, held["id"], buyer)).status_code == 409
    orders = await scalar(
        committed_session, "SELECT count(*) FROM orders WHERE event_id = :id", id=catalog.event_id
    )
    assert orders == 0


async def test_paid_order_issues_tickets_and_queues_the_confirmation_email(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    customer_headers: Headers,
    run_money_jobs: RunJobs,
    database_url: str,
) -> None:
    catalog, buyer, held = await new_buyer_hold(
        sales_client, committed_session, customer_headers, 2, quantity=10
    )
    order = (await confirm(sales_client, held["id"], buyer)).json()["data"]
    [job] = await run_money_jobs([order["payment_job_id"]])
    assert job.status == "completed", job.last_error
    paid = (await sales_client.get(f"/api/v1/orders/{order['id']}", headers=buyer)).json()["data"]
    assert paid["status"] == "paid"
    assert paid["payment_intent_id"]
    assert {t["status"] for t in paid["tickets"]} == {"issued"}
    assert await ticket_counts(database_url, catalog.ticket_type_id) == (10, 2, 0)
    emails = await scalar(
        committed_session,
        "SELECT count(*) FROM jobs_communication WHERE type = 'send-email'"
        " AND idempotency_key = :key",
        key=f"send-email:order-confirmation:{order['id']}",
    )
    assert emails == 1


async def test_declined_payment_cancels_the_order_and_returns_the_tickets(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    customer_headers: Headers,
    run_money_jobs: RunJobs,
    database_url: str,
) -> None:
    catalog, buyer, held = await new_buyer_hold(
        sales_client, committed_session, customer_headers, 4, quantity=10
    )
    response = await confirm(
        sales_client, held["id"], buyer, payment_method="pm_card_chargeDeclined"
    )
    order = response.json()["data"]
    [job] = await run_money_jobs([order["payment_job_id"]])
    assert job.status in ("failed", "dead")
    cancelled = (await sales_client.get(f"/api/v1/orders/{order['id']}", headers=buyer)).json()
    assert cancelled["data"]["status"] == "cancelled"
    assert {t["status"] for t in cancelled["data"]["tickets"]} == {"invalidated"}
    assert await ticket_counts(database_url, catalog.ticket_type_id) == (10, 0, 0)


async def test_a_payment_after_the_hold_ran_out_is_refunded(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    customer_headers: Headers,
    run_money_jobs: RunJobs,
    database_url: str,
) -> None:
    catalog, buyer, held = await new_buyer_hold(
        sales_client, committed_session, customer_headers, 2, quantity=10, price=Decimal("30.00")
    )
    order = (await confirm(sales_client, held["id"], buyer)).json()["data"]
    await committed_session.execute(
        text("UPDATE reservations SET expires_at = now() - interval '1 day' WHERE id = :id"),
        {"id": held["id"]},
    )
    await committed_session.commit()
    [job] = await run_money_jobs([order["payment_job_id"]])
    assert job.status == "completed"
    refund_job = await scalar(
        committed_session,
        "SELECT job_uuid::text FROM jobs_money WHERE type = 'refund-process'"
        " AND payload->>'order_id' = :id AND (payload->>'amount_cents')::int = 6000",
        id=order["id"],
    )
    [refund] = await run_money_jobs([refund_job])
    assert refund.status == "completed", refund.last_error
    late = (await sales_client.get(f"/api/v1/orders/{order['id']}", headers=buyer)).json()["data"]
    assert late["status"] == "refunded"
    assert late["refunded_amount"] == "60.00"
    assert await ticket_counts(database_url, catalog.ticket_type_id) == (10, 0, 0)


async def test_refunds_partial_then_the_rest_never_more_than_paid(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    customer_headers: Headers,
    token_for: Callable[..., str],
    run_money_jobs: RunJobs,
) -> None:
    catalog, buyer, held = await new_buyer_hold(
        sales_client, committed_session, customer_headers, 2, price=Decimal("40.00")
    )
    order = (await confirm(sales_client, held["id"], buyer)).json()["data"]
    await run_money_jobs([order["payment_job_id"]])
    path = f"/api/v1/orders/{order['id']}/refund"
    manager = auth_header(token_for("venue_admin", venue_ids=[str(catalog.venue_id)]))
    stranger = auth_header(token_for("venue_admin", venue_ids=[str(uuid.uuid4())]))
    assert (await sales_client.post(path, json={"amount": "10.00"})).status_code == 401
    assert (
        await sales_client.post(path, json={"amount": "10.00"}, headers=buyer)
    ).status_code == 403
    assert (
        await sales_client.post(path, json={"amount": "10.00"}, headers=stranger)
    ).status_code == 404
    assert (
        await sales_client.post(path, json={"amount": "-1"}, headers=manager)
    ).status_code == 422
    keyed = {**manager, "Idempotency-Key": f"refund-{uuid.uuid4().hex}"}
    first = await sales_client.post(path, json={"amount": "25.00"}, headers=keyed)
    assert first.status_code == 202, first.text
    assert first.json()["data"]["status"] == "paid"  # until the provider confirms it
    assert first.json()["data"]["pending_refund_amount"] == "25.00"
    replay = await sales_client.post(path, json={"amount": "25.00"}, headers=keyed)
    assert replay.json() == first.json()
    other_body = await sales_client.post(path, json={"amount": "5.00"}, headers=keyed)
    assert other_body.status_code == 409
    too_much = await sales_client.post(path, json={"amount": "60.00"}, headers=manager)
    assert too_much.status_code == 409
    rest = await sales_client.post(path, json={}, headers=manager)
    assert rest.json()["data"]["refund"]["amount"] == "55.00"
    assert rest.json()["data"]["pending_refund_amount"] == "80.00"
    nothing_left = await sales_client.post(path, json={}, headers=manager)
    assert nothing_left.status_code == 409
    await run_money_jobs(
        [first.json()["data"]["refund"]["job_id"], rest.json()["data"]["refund"]["job_id"]]
    )
    done = (await sales_client.get(f"/api/v1/orders/{order['id']}", headers=manager)).json()
    assert done["data"]["status"] == "refunded"
    assert done["data"]["refunded_amount"] == "80.00"
    refunds = await scalar(
        committed_session,
        "SELECT count(DISTINCT idempotency_key) FROM jobs_money"
        " WHERE type = 'refund-process' AND payload->>'order_id' = :id",
        id=order["id"],
    )
    assert refunds == 2


async def test_order_visibility_and_listing(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    customer_headers: Headers,
    token_for: Callable[..., str],
) -> None:
    catalog = await committed_catalog(committed_session)
    sub = f"buyer-{uuid.uuid4().hex}"
    buyer = customer_headers(sub)
    key = {"Idempotency-Key": f"confirm-{uuid.uuid4().hex}"}
    held = await hold(sales_client, catalog, buyer, 1)
    first = await confirm(sales_client, held["id"], {**buyer, **key})
    replay = await confirm(sales_client, held["id"], {**buyer, **key})
    assert replay.status_code == 201 and replay.json() == first.json()
    order_id = first.json()["data"]["id"]
    path = f"/api/v1/orders/{order_id}"
    assert (await sales_client.get(path)).status_code == 401
    assert (await sales_client.get(path, headers=customer_headers("nobody"))).status_code == 404
    other_venue = auth_header(token_for("venue_staff", venue_ids=[str(uuid.uuid4())]))
    assert (await sales_client.get(path, headers=other_venue)).status_code == 404
    staff = auth_header(token_for("venue_staff", venue_ids=[str(catalog.venue_id)]))
    assert (await sales_client.get(path, headers=staff)).status_code == 200
    by_event = await sales_client.get(
        "/api/v1/orders", params={"event_id": str(catalog.event_id)}, headers=staff
    )
    assert [o["id"] for o in by_event.json()["data"]] == [order_id]
    assert by_event.json()["pagination"]["total"] == 1
    hidden = await sales_client.get(
        "/api/v1/orders", params={"event_id": str(catalog.event_id)}, headers=other_venue
    )
    assert hidden.json()["data"] == []
    mine = await sales_client.get("/api/v1/orders", headers=buyer)
    assert [o["id"] for o in mine.json()["data"]] == [order_id]
    bad = await sales_client.get("/api/v1/orders", params={"event_id": "x"}, headers=staff)
    assert bad.status_code == 422 and bad.json()["code"] == "VALIDATION_ERROR"


async def test_confirmation_access_and_validation(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    customer_headers: Headers,
    token_for: Callable[..., str],
) -> None:
    catalog, buyer, held = await new_buyer_hold(
        sales_client, committed_session, customer_headers, 1
    )
    path = f"/api/v1/reservations/{held['id']}/confirm"
    assert (await sales_client.post(path)).status_code == 401
    assert (await sales_client.post(path, headers=customer_headers("intruder"))).status_code == 404
    stranger = auth_header(token_for("venue_admin", venue_ids=[str(uuid.uuid4())]))
    assert (await sales_client.post(path, headers=stranger)).status_code == 404
    staff = auth_header(token_for("venue_staff", venue_ids=[str(catalog.venue_id)]))
    assert (await sales_client.post(path, headers=staff)).status_code == 403
    invalid = await sales_client.post(path, json={"payment_method": "pm card!"}, headers=buyer)
    assert invalid.status_code == 422 and invalid.json()["code"] == "VALIDATION_ERROR"
    bad_id = await sales_client.post("/api/v1/reservations/123/confirm", headers=buyer)
    assert bad_id.status_code == 422
    assert (await confirm(sales_client, held["id"], buyer)).status_code == 201


async def test_unpaid_orders_are_cancelled_after_the_hold_and_grace(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    customer_headers: Headers,
    sales_database: Database,
    database_url: str,
) -> None:
    catalog, buyer, held = await new_buyer_hold(
        sales_client, committed_session, customer_headers, 3, quantity=8
    )
    order = (await confirm(sales_client, held["id"], buyer)).json()["data"]
    assert await ticket_counts(database_url, catalog.ticket_type_id) == (8, 0, 3)
    assert catalog.event_id not in await cancel_unpaid_orders(sales_database, 60)
    await committed_session.execute(
        text("UPDATE reservations SET expires_at = now() - interval '2 minutes' WHERE id = :id"),
        {"id": held["id"]},
    )
    await committed_session.commit()
    assert catalog.event_id in await cancel_unpaid_orders(sales_database, 60)
    cancelled = (await sales_client.get(f"/api/v1/orders/{order['id']}", headers=buyer)).json()
    assert cancelled["data"]["status"] == "cancelled"
    assert await ticket_counts(database_url, catalog.ticket_type_id) == (8, 0, 0)


async def test_a_payment_job_of_an_order_cancelled_with_its_event_charges_nothing(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    customer_headers: Headers,
    run_money_jobs: RunJobs,
    sales_database: Database,
    database_url: str,
) -> None:
    catalog, buyer, held = await new_buyer_hold(
        sales_client, committed_session, customer_headers, 2, quantity=10, price=Decimal("15.00")
    )
    order = (await confirm(sales_client, held["id"], buyer)).json()["data"]
    async with sales_database.transaction() as session:
        await session.execute(
            text("UPDATE events SET status = 'cancelled' WHERE id = :id"), {"id": catalog.event_id}
        )
        summary = await cancel_event_orders(
            session, event_id=catalog.event_id, policy="full", refund_percentage=None, reason="x"
        )
    assert summary.orders_cancelled == 1 and summary.refunds_queued == 0
    assert summary.holders_notified == 1
    [job] = await run_money_jobs([order["payment_job_id"]])
    assert job.status == "failed" and "not pending" in (job.last_error or "")
    after = (await sales_client.get(f"/api/v1/orders/{order['id']}", headers=buyer)).json()["data"]
    assert after["status"] == "cancelled" and after["payment_intent_id"] is None
    assert after["refunds"] == [] and after["refunded_amount"] == "0.00"
    assert {t["status"] for t in after["tickets"]} == {"invalidated"}
    assert await ticket_counts(database_url, catalog.ticket_type_id) == (10, 0, 0)


async def test_a_payment_for_a_cancelled_event_is_refunded(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    customer_headers: Headers,
    run_money_jobs: RunJobs,
    database_url: str,
) -> None:
    """The event is cancelled while the charge is on its way (the order still pending when the
    handler checked it): the charge that succeeds is refunded at once."""
    catalog, buyer, held = await new_buyer_hold(
        sales_client, committed_session, customer_headers, 2, quantity=10, price=Decimal("15.00")
    )
    order = (await confirm(sales_client, held["id"], buyer)).json()["data"]
    await committed_session.execute(
        text("UPDATE events SET status = 'cancelled' WHERE id = :id"), {"id": catalog.event_id}
    )
    await committed_session.commit()
    [job] = await run_money_jobs([order["payment_job_id"]])
    assert job.status == "completed"
    [refund] = await run_money_jobs(
        [
            await scalar(
                committed_session,
                "SELECT job_id::text FROM order_refunds WHERE order_id = :id",
                id=order["id"],
            )
        ]
    )
    assert refund.status == "completed", refund.last_error
    late = (await sales_client.get(f"/api/v1/orders/{order['id']}", headers=buyer)).json()["data"]
    assert late["status"] == "refunded" and late["refunded_amount"] == "30.00"
    assert late["pending_refund_amount"] == "0.00"
    assert {t["status"] for t in late["tickets"]} == {"invalidated"}
    assert await ticket_counts(database_url, catalog.ticket_type_id) == (10, 0, 0)


async def test_order_routes_need_a_token_and_valid_input(
    sales_client: httpx.AsyncClient, customer_headers: Headers
) -> None:
    buyer = customer_headers(f"buyer-{uuid.uuid4().hex}")
    assert (await sales_client.get("/api/v1/orders")).status_code == 401
    assert (await sales_client.get(f"/api/v1/orders/{uuid.uuid4()}")).status_code == 401
    invalid = await sales_client.get("/api/v1/orders/abc", headers=buyer)
    assert invalid.status_code == 422 and invalid.json()["success"] is False
    paging = await sales_client.get("/api/v1/orders", params={"limit": 1000}, headers=buyer)
    assert paging.status_code == 422
    refund = await sales_client.post("/api/v1/orders/abc/refund", json={}, headers=buyer)
    assert refund.status_code == 422


async def test_a_refund_the_provider_refuses_leaves_the_order_as_it_was(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    token_for: Callable[..., str],
    run_money_jobs: RunJobs,
) -> None:
    catalog = await insert_catalog(committed_session, price=Decimal("20.00"))
    customer = await insert_customer(committed_session, catalog.venue_id)
    order_id = await insert_order(
        committed_session,
        customer_id=customer,
        event_id=catalog.event_id,
        ticket_type_id=catalog.ticket_type_id,
        quantity=2,
        unit_price=Decimal("20.00"),
        status="paid",
        paid_at=datetime.now(UTC),
    )
    await committed_session.execute(
        text("UPDATE orders SET payment_intent_id = 'pi_unknown_to_the_provider' WHERE id = :id"),
        {"id": order_id},
    )
    await committed_session.commit()
    manager = auth_header(token_for("venue_admin", venue_ids=[str(catalog.venue_id)]))
    queued = await sales_client.post(f"/api/v1/orders/{order_id}/refund", json={}, headers=manager)
    assert queued.json()["data"]["status"] == "paid"
    assert queued.json()["data"]["pending_refund_amount"] == "40.00"
    assert {t["status"] for t in queued.json()["data"]["tickets"]} == {"issued"}
    [job] = await run_money_jobs([queued.json()["data"]["refund"]["job_id"]])
    assert job.status in ("failed", "dead")
    after = (await sales_client.get(f"/api/v1/orders/{order_id}", headers=manager)).json()["data"]
    assert after["status"] == "paid" and after["refunded_amount"] == "0.00"
    assert after["pending_refund_amount"] == "0.00"
    assert [r["status"] for r in after["refunds"]] == ["failed"]
    assert {t["status"] for t in after["tickets"]} == {"issued"}


async def test_a_dead_refund_requeued_by_an_administrator_still_refunds(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    customer_headers: Headers,
    token_for: Callable[..., str],
    run_money_jobs: RunJobs,
    sales_database: Database,
    payment_sandbox: tuple[str, int],
) -> None:
    """A provider outage outlasts the refund's attempts (dead); once an administrator requeues
    the job and the provider answers, the refund is confirmed and counts on the order."""
    from tests.queue.handlers.handler_processes import SANDBOX_KEY

    from tickettoken.queue.engine import retry_job

    catalog, buyer, held = await new_buyer_hold(
        sales_client, committed_session, customer_headers, 1, price=Decimal("20.00")
    )
    order = (await confirm(sales_client, held["id"], buyer)).json()["data"]
    await run_money_jobs([order["payment_job_id"]])
    manager = auth_header(token_for("venue_admin", venue_ids=[str(catalog.venue_id)]))
    queued = await sales_client.post(
        f"/api/v1/orders/{order['id']}/refund", json={}, headers=manager
    )
    job_id = queued.json()["data"]["refund"]["job_id"]
    await committed_session.execute(  # one attempt only, so that the outage kills it at once
        text("UPDATE jobs_money SET max_attempts = 1 WHERE job_uuid = :id"), {"id": job_id}
    )
    await committed_session.commit()
    async with httpx.AsyncClient(base_url=payment_sandbox[0]) as sandbox:
        outage = {"status": 503, "count": 1, "path_prefix": "/v1/refunds", "retry_after": 0}
        headers = {"Authorization": f"Bearer {SANDBOX_KEY}"}
        assert (
            await sandbox.post("/_sandbox/payments/faults", json=outage, headers=headers)
        ).is_success
    [dead] = await run_money_jobs([job_id])
    assert dead.status == "dead"
    waiting = (await sales_client.get(f"/api/v1/orders/{order['id']}", headers=buyer)).json()
    assert waiting["data"]["status"] == "paid"
    assert [r["status"] for r in waiting["data"]["refunds"]] == ["failed"]
    async with sales_database.transaction() as session:
        await retry_job(session, job_id)
    [again] = await run_money_jobs([job_id])
    assert again.status == "completed", again.last_error
    done = (await sales_client.get(f"/api/v1/orders/{order['id']}", headers=buyer)).json()["data"]
    assert done["status"] == "refunded" and done["refunded_amount"] == "20.00"
    assert [r["status"] for r in done["refunds"]] == ["succeeded"]
