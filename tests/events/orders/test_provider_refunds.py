"""A refund the provider reports (the ``provider-refund`` job) against the platform's own
refund: the webhook confirms the row its ``metadata.refund_id`` names, and the refund's own
``refund-process`` result arriving after it counts nothing more and is no anomaly."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from tests.events.orders.conftest import RunJobs
from tests.events.orders.test_orders_api import Headers, confirm, new_buyer_hold, scalar
from tests.support import auth_header

from tickettoken.events.orders.payment_results import apply_refund_succeeded
from tickettoken.events.orders.provider_refunds import record_provider_refund
from tickettoken.kit.db import Database
from tickettoken.kit.jobs.payloads import ProviderRefund
from tickettoken.queue.engine import get_job


async def test_the_webhook_confirms_the_platforms_refund_and_its_job_result_counts_nothing_more(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    customer_headers: Headers,
    token_for: Callable[..., str],
    run_money_jobs: RunJobs,
    sales_database: Database,
) -> None:
    catalog, buyer, held = await new_buyer_hold(
        sales_client, committed_session, customer_headers, 2, price=Decimal("40.00")
    )
    order = (await confirm(sales_client, held["id"], buyer)).json()["data"]
    await run_money_jobs([order["payment_job_id"]])
    manager = auth_header(token_for("venue_admin", venue_ids=[str(catalog.venue_id)]))
    path = f"/api/v1/orders/{order['id']}/refund"
    mine = (await sales_client.post(path, json={"amount": "25.00"}, headers=manager)).json()
    other = (await sales_client.post(path, json={"amount": "25.00"}, headers=manager)).json()
    refund, twin = mine["data"]["refund"], other["data"]["refund"]
    intent = await scalar(
        committed_session, "SELECT payment_intent_id FROM orders WHERE id = :o", o=order["id"]
    )

    claim = ProviderRefund(
        provider_refund_id="re_platform_first",
        payment_intent=intent,
        amount_cents=2500,
        currency="usd",
        venue_id=catalog.venue_id,
        platform_refund_id=uuid.UUID(refund["refund_id"]),
    )
    async with sales_database.transaction() as session:
        assert await record_provider_refund(session, claim) == "partially_refunded"
    async with sales_database.transaction() as session:  # the same delivery's job again
        assert await record_provider_refund(session, claim) == "already_counted"
    statuses = await scalar(
        committed_session,
        "SELECT string_agg(status, ',' ORDER BY id = :mine DESC) FROM order_refunds"
        " WHERE order_id = :o",
        o=order["id"],
        mine=refund["refund_id"],
    )
    assert statuses == "succeeded,pending"  # the named row, not its twin of the same amount

    async with sales_database.transaction() as session:
        job = await get_job(session, refund["job_id"])
        assert job is not None
        result = {"provider_refund_id": "re_platform_first", "amount_cents": 2500}
        assert await apply_refund_succeeded(session, job, result) == "already_confirmed"
        other_id = {**result, "provider_refund_id": "re_someone_else"}
        assert await apply_refund_succeeded(session, job, other_id) == "anomaly"
    refunded = await scalar(
        committed_session, "SELECT refunded_amount FROM orders WHERE id = :o", o=order["id"]
    )
    assert refunded == Decimal("25.00")
    assert twin["status"] == "pending"
    # Their refund-process jobs were never run here: not the next tests' workers' to run.
    gone = await scalar(
        committed_session,
        "WITH gone AS (DELETE FROM jobs_money WHERE job_uuid = ANY(CAST(:ids AS uuid[]))"
        " RETURNING 1) SELECT count(*) FROM gone",
        ids=[refund["job_id"], twin["job_id"]],
    )
    assert gone == 2
