"""The platform's own writes on a provider's answer leave audit rows too (issue 7, item 12): a
payment applied, a declined payment's cancellation, a confirmed refund, each recorded with the
job that carried the answer as its actor and the role ``system``."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.events.orders.conftest import RunJobs
from tests.events.orders.test_orders_api import Headers, committed_catalog, confirm, hold
from tests.support import auth_header


async def _rows(session: AsyncSession, order_id: str) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(
            "SELECT action, actor_id, actor_role, before, after FROM audit_log"
            " WHERE entity_id = :id AND actor_role = 'system' ORDER BY created_at"
        ),
        {"id": order_id},
    )
    found = [dict(row) for row in rows.mappings()]
    await session.commit()
    return found


async def test_payment_and_refund_results_are_audited_as_the_system(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    customer_headers: Headers,
    token_for: Any,
    run_money_jobs: RunJobs,
) -> None:
    catalog = await committed_catalog(committed_session, price=Decimal("40.00"))
    buyer = customer_headers(f"buyer-{uuid.uuid4().hex}")
    order = await confirm(sales_client, (await hold(sales_client, catalog, buyer, 1))["id"], buyer)
    order_data = order.json()["data"]
    [payment] = await run_money_jobs([order_data["payment_job_id"]])
    assert payment.status == "completed", payment.last_error
    [paid] = await _rows(committed_session, order_data["id"])
    assert paid["action"] == "pay" and paid["actor_id"] == f"job:{payment.job_id}"
    assert (paid["before"]["status"], paid["after"]["status"]) == ("pending", "paid")

    manager = auth_header(token_for("venue_admin", venue_ids=[str(catalog.venue_id)]))
    refund = await sales_client.post(
        f"/api/v1/orders/{order_data['id']}/refund", json={}, headers=manager
    )
    assert refund.status_code == 202, refund.text
    [refunded] = await run_money_jobs([refund.json()["data"]["refund"]["job_id"]])
    rows = await _rows(committed_session, order_data["id"])
    assert [row["action"] for row in rows] == ["pay", "refund_confirmed"]
    assert rows[1]["actor_id"] == f"job:{refunded.job_id}"
    assert rows[1]["after"]["status"] == "refunded"
    assert rows[1]["after"]["refunded_amount"] == "40.00"


async def test_a_declined_payments_cancellation_is_audited(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    customer_headers: Headers,
    run_money_jobs: RunJobs,
) -> None:
    catalog = await committed_catalog(committed_session)
    buyer = customer_headers(f"buyer-{uuid.uuid4().hex}")
    held = await hold(sales_client, catalog, buyer, 2)
    response = await confirm(
        sales_client, held["id"], buyer, payment_method="pm_card_chargeDeclined"
    )
    order = response.json()["data"]
    [job] = await run_money_jobs([order["payment_job_id"]])
    [row] = await _rows(committed_session, order["id"])
    assert row["action"] == "payment_failed" and row["actor_id"] == f"job:{job.job_id}"
    assert (row["before"]["status"], row["after"]["status"]) == ("pending", "cancelled")
