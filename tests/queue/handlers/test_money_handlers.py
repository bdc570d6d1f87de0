"""Money handlers against the Stripe-compatible sandbox over real HTTP."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from tests.queue.handlers.handler_processes import Sandbox

from tickettoken.kit.jobs import JobRecord, JobSpec
from tickettoken.services import job_registry


def _payment(**extra: Any) -> JobSpec:
    payload = {
        "order_id": str(uuid.uuid4()),
        "amount_cents": 4200,
        "currency": "usd",
        "customer_id": "cus_1",
        **extra,
    }
    return JobSpec("money", "payment-process", payload)


async def test_payment_charges_once_and_reports_back(run_jobs, sandbox: Sandbox) -> None:
    registry = job_registry(callbacks=False)
    reported: list[tuple[str, dict[str, Any]]] = []
    failed: list[str] = []

    async def paid(session: AsyncSession, job: JobRecord, result: dict[str, Any]) -> None:
        reported.append((job.payload["order_id"], result))

    async def declined(session: AsyncSession, job: JobRecord, error: str) -> None:
        failed.append(error)

    registry.on_completed("payment-process", paid)
    registry.on_failed("payment-process", declined)
    before = sandbox.get("/_sandbox/payments/stats").json()["charges"]
    ok, bad = await run_jobs(
        [_payment(), _payment(payment_method="pm_card_chargeDeclined")], registry
    )
    assert ok.status == "completed"
    assert ok.result is not None and ok.result["status"] == "succeeded"
    assert ok.result["charge_id"].startswith("ch_") and ok.result["amount_cents"] == 4200
    response = await sandbox.request(
        "GET",
        f"/v1/payment_intents/{ok.result['payment_intent_id']}",
        headers={"Authorization": "Bearer sk_test_sandbox"},
    )
    intent = response.json()
    assert intent["metadata"]["order_id"] == ok.payload["order_id"]
    assert reported == [(ok.payload["order_id"], ok.result)]
    assert bad.status == "failed" and bad.attempts == 1
    assert "card was declined" in (bad.last_error or "")
    assert failed and "card was declined" in failed[0]
    assert sandbox.get("/_sandbox/payments/stats").json()["charges"] == before + 1


async def test_429_with_should_retry_is_retried(run_jobs, sandbox: Sandbox) -> None:
    await sandbox.request(
        "POST",
        "/_sandbox/payments/faults",
        json={"status": 429, "count": 1, "path_prefix": "/v1/payment_intents", "retry_after": 0.5},
    )
    (job,) = await run_jobs([_payment()])
    assert job.status == "completed" and job.attempts == 2
    assert job.result is not None and job.result["status"] == "succeeded"


async def test_partial_refunds_and_payout(run_jobs, sandbox: Sandbox) -> None:
    (payment,) = await run_jobs([_payment(amount_cents=10_000)])
    assert payment.result is not None
    intent = payment.result["payment_intent_id"]
    refunds = [
        JobSpec(
            "money",
            "refund-process",
            {"refund_id": str(uuid.uuid4()), "payment_intent_id": intent, "amount_cents": a},
        )
        for a in (3_000, 5_000, 5_000)
    ]
    payout = JobSpec(
        "money",
        "payout-process",
        {"payout_id": str(uuid.uuid4()), "amount_cents": 7_000, "currency": "usd"},
    )
    first, second, paid_out = await run_jobs([*refunds[:2], payout])
    (too_much,) = await run_jobs(refunds[2:])  # only 2,000 of 10,000 are left
    assert [first.status, second.status] == ["completed", "completed"]
    assert first.result is not None and first.result["amount_cents"] == 3_000
    assert too_much.status == "failed" and "greater than unrefunded" in (too_much.last_error or "")
    assert paid_out.status == "completed"
    assert paid_out.result is not None and paid_out.result["provider_payout_id"].startswith("po_")


async def test_nft_mint_is_idempotent_per_ticket(run_jobs, sandbox: Sandbox) -> None:
    ticket = str(uuid.uuid4())
    (job,) = await run_jobs(
        [JobSpec("money", "nft-mint", {"ticket_id": ticket, "owner": "wallet-1"})]
    )
    assert job.status == "completed" and job.idempotency_key == f"nft:{ticket}"
    mints = sandbox.get("/_sandbox/mints").json()["items"]
    assert [m["ticket_id"] for m in mints].count(ticket) == 1
    assert job.result is not None and job.result["mint_address"]


async def test_missing_fields_fail_permanently(run_jobs) -> None:
    (job,) = await run_jobs(
        [JobSpec("money", "payout-process", {"payout_id": str(uuid.uuid4()), "amount_cents": -5})]
    )
    assert job.status == "failed" and job.attempts == 1
    assert "positive integer" in (job.last_error or "")
