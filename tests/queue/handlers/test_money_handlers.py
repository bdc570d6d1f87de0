"""Money handlers against the Stripe-compatible sandbox over real HTTP."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.queue.handlers.conftest import RunEnqueued
from tests.queue.handlers.handler_processes import Sandbox
from tests.queue.handlers.platform_orders import OrderPayment, pending_orders_with_payment_jobs

from tickettoken.events import models  # noqa: F401  (every table registered before a flush)
from tickettoken.events.orders import repository
from tickettoken.events.orders.service import queue_refund
from tickettoken.events.payouts.service import create_payout
from tickettoken.kit.db import Database
from tickettoken.kit.errors import ValidationFailed
from tickettoken.kit.jobs import JobRecord, JobSpec
from tickettoken.services import job_registry


async def _orders(hdb: Database, *amounts: int, **payload: Any) -> list[OrderPayment]:
    async with hdb.transaction() as session:
        return await pending_orders_with_payment_jobs(session, amounts, **payload)


async def test_payment_charges_once_and_reports_back(
    run_enqueued: RunEnqueued, hdb: Database, sandbox: Sandbox
) -> None:
    registry = job_registry(callbacks=False)
    reported: list[tuple[str, dict[str, Any]]] = []
    failed: list[str] = []

    async def paid(session: AsyncSession, job: JobRecord, result: dict[str, Any]) -> None:
        reported.append((job.payload["order_id"], result))

    async def declined(session: AsyncSession, job: JobRecord, error: str) -> None:
        failed.append(error)

    registry.on_completed("payment-process", paid)
    registry.on_failed("payment-process", declined)
    # Stripe refuses a customer it does not have (404), so the buyer is a real sandbox customer.
    buyer = await sandbox.request(
        "POST", "/v1/customers", headers=sandbox.key_header(), data={"email": "b@example.com"}
    )
    (good,) = await _orders(hdb, 4200, customer_id=buyer.json()["id"])
    (bad_order,) = await _orders(hdb, 4200, payment_method="pm_card_chargeDeclined")
    before = sandbox.get("/_sandbox/payments/stats").json()["charges"]
    ok, bad = await run_enqueued([good.job_id, bad_order.job_id], registry=registry)
    assert ok.status == "completed"
    assert ok.result is not None and ok.result["status"] == "succeeded"
    assert ok.result["charge_id"].startswith("ch_") and ok.result["amount_cents"] == 4200
    response = await sandbox.request(
        "GET",
        f"/v1/payment_intents/{ok.result['payment_intent_id']}",
        headers=sandbox.key_header(),
    )
    intent = response.json()
    assert intent["metadata"]["order_id"] == good.order_id
    assert intent["payment_method"]  # the platform always sends one (Stripe needs it)
    assert reported == [(good.order_id, ok.result)]
    assert bad.status == "failed" and bad.attempts == 1
    assert "card was declined" in (bad.last_error or "")
    assert failed and "card was declined" in failed[0]
    assert sandbox.get("/_sandbox/payments/stats").json()["charges"] == before + 1


async def test_a_payment_for_an_order_that_is_not_pending_never_reaches_the_provider(
    run_enqueued: RunEnqueued, hdb: Database, sandbox: Sandbox
) -> None:
    (order,) = await _orders(hdb, 1500)
    async with hdb.transaction() as session:
        await session.execute(
            text("UPDATE orders SET status = 'cancelled' WHERE id = :id"), {"id": order.order_id}
        )
    before = sandbox.get("/_sandbox/payments/stats").json()["requests"]
    (job,) = await run_enqueued([order.job_id])
    assert job.status == "failed" and job.attempts == 1
    assert "not pending" in (job.last_error or "")
    assert sandbox.get("/_sandbox/payments/stats").json()["requests"] == before


async def test_429_with_should_retry_is_retried(
    run_enqueued: RunEnqueued, hdb: Database, sandbox: Sandbox
) -> None:
    (order,) = await _orders(hdb, 4200)
    await sandbox.request(
        "POST",
        "/_sandbox/payments/faults",
        json={"status": 429, "count": 1, "path_prefix": "/v1/payment_intents", "retry_after": 0.5},
        headers=sandbox.key_header(),
    )
    (job,) = await run_enqueued([order.job_id])
    assert job.status == "completed" and job.attempts == 2
    assert job.result is not None and job.result["status"] == "succeeded"


async def test_partial_refunds_and_payout(
    run_enqueued: RunEnqueued, hdb: Database, sandbox: Sandbox
) -> None:
    (order,) = await _orders(hdb, 10_000)
    (payment,) = await run_enqueued([order.job_id])
    assert payment.result is not None
    async with hdb.transaction() as session:
        await session.execute(
            text(
                "UPDATE orders SET status = 'paid', paid_at = now(), payment_intent_id = :pi"
                " WHERE id = :id"
            ),
            {"pi": payment.result["payment_intent_id"], "id": order.order_id},
        )
        locked = await repository.lock_order(session, uuid.UUID(order.order_id))
        assert locked is not None
        refunds = [
            await queue_refund(session, locked, Decimal(amount), "requested_by_customer")
            for amount in ("30.00", "50.00")
        ]
        venue_id = (
            await session.execute(
                text(
                    "SELECT e.venue_id FROM orders o JOIN events e ON e.id = o.event_id"
                    " WHERE o.id = :id"
                ),
                {"id": order.order_id},
            )
        ).scalar_one()
        payout = await create_payout(
            session,
            venue_id=venue_id,
            amount=Decimal("70.00"),
            currency="usd",
            destination="acct_venue",
        )
    first, second, paid_out = await run_enqueued(
        [refunds[0]["job_id"], refunds[1]["job_id"], str(payout.job_id)]
    )
    async with hdb.transaction() as session:  # queued after the others ran: 2,000 are left
        locked = await repository.lock_order(session, uuid.UUID(order.order_id))
        assert locked is not None
        third = await queue_refund(session, locked, Decimal("50.00"), "requested_by_customer")
    (too_much,) = await run_enqueued([third["job_id"]])
    assert [first.status, second.status] == ["completed", "completed"]
    assert first.result is not None and first.result["amount_cents"] == 3_000
    assert too_much.status == "failed" and "greater than unrefunded" in (too_much.last_error or "")
    assert paid_out.status == "completed"
    assert paid_out.result is not None and paid_out.result["provider_payout_id"].startswith("po_")
    assert paid_out.result["amount_cents"] == 7_000


async def test_nft_mint_is_idempotent_per_ticket(run_jobs, sandbox: Sandbox) -> None:
    ticket = str(uuid.uuid4())
    (job,) = await run_jobs(
        [JobSpec("money", "nft-mint", {"ticket_id": ticket, "owner": "wallet-1"})]
    )
    assert job.status == "completed" and job.idempotency_key == f"nft:{ticket}"
    mints = sandbox.get("/_sandbox/mints").json()["items"]
    assert [m["ticket_id"] for m in mints].count(ticket) == 1
    assert job.result is not None and job.result["mint_address"]


async def test_invalid_money_payload_is_refused_at_enqueue(run_jobs) -> None:
    # Refused when enqueued (kit.jobs.payloads); nothing reaches the provider.
    payload = {"payout_id": str(uuid.uuid4()), "venue_id": str(uuid.uuid4()), "amount_cents": -5}
    with pytest.raises(ValidationFailed) as refused:
        await run_jobs([JobSpec("money", "payout-process", payload)])
    assert any("amount_cents" in d["field"] for d in refused.value.details or [])


async def test_money_jobs_without_a_platform_record_fail_permanently(run_jobs) -> None:
    payout, refund, nameless = await run_jobs(
        [
            JobSpec(
                "money",
                "payout-process",
                {"payout_id": str(uuid.uuid4()), "venue_id": str(uuid.uuid4()), "amount_cents": 5},
            ),
            JobSpec(
                "money",
                "refund-process",
                {"refund_id": str(uuid.uuid4()), "payment_intent_id": "pi_unknown"},
            ),
            JobSpec(
                "money",
                "payout-process",
                {"payout_id": "not-a-uuid", "venue_id": str(uuid.uuid4())},
            ),
        ]
    )
    assert [payout.status, refund.status, nameless.status] == ["failed"] * 3
    assert payout.attempts == 1
    assert "not created by the platform" in (payout.last_error or "")
    assert "not created by the platform" in (refund.last_error or "")
    assert "not a uuid" in (nameless.last_error or "")
