"""What a money job may pay, read from the record the platform created, before any provider call.

A money job's payload is a claim, not an instruction: the payment handler charges only an order
that exists, is pending and whose own payment job this is (``orders.payment_job_id``), for the
order's amount and currency; the refund handler refunds only a pending ``order_refunds`` row
carried by this job, for the row's amount, against the order's payment intent; the payout handler
pays only a pending ``payouts`` row carried by this job, the row's amount to the row's
destination (a refund or payout marked failed may run again when its own job is requeued).
Anything else fails permanently here, so no money moves for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from tickettoken.kit.jobs import JobContext, PermanentJobError
from tickettoken.kit.money import to_cents
from tickettoken.queue.handlers.provider_calls import require

RETRYABLE_STATUSES = ("pending", "failed")
"""A refund or payout whose job failed may run again when an administrator requeues that job."""


@dataclass(frozen=True)
class Charge:
    order_id: str
    amount_cents: int
    currency: str
    venue_id: str


@dataclass(frozen=True)
class RefundOrder:
    refund_id: str
    order_id: str
    amount_cents: int
    payment_intent_id: str


@dataclass(frozen=True)
class PayoutOrder:
    payout_id: str
    venue_id: str
    amount_cents: int
    currency: str
    destination: str


def _uuid(value: Any, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise PermanentJobError(f"{name} is not a uuid") from None


async def _row(ctx: JobContext, sql: str, **params: Any) -> Mapping[str, Any] | None:
    async with ctx.database.transaction() as session:
        row = (await session.execute(text(sql), params)).mappings().first()
    return dict(row) if row is not None else None


async def _own_record(ctx: JobContext, what: str, sql: str) -> tuple[str, Mapping[str, Any]]:
    """The refund or payout the payload's ``<what>_id`` names (with that id as given), read by
    ``sql``: a row the platform created for this very job, not yet done."""
    (raw,) = require(ctx.payload, f"{what}_id")
    row = await _row(ctx, sql, id=_uuid(raw, f"{what}_id"))
    name = f"{what} {raw}"
    if row is None:
        raise PermanentJobError(f"{name} was not created by the platform")
    if row["job_id"] is None or str(row["job_id"]) != ctx.job_id:
        raise PermanentJobError(f"this job is not the job of {name}")
    if row["status"] not in RETRYABLE_STATUSES:
        raise PermanentJobError(f"{name} is {row['status']}")
    return raw, row


def _claimed_amount(payload: dict[str, Any], expected: int, what: str) -> None:
    """A payload that names an amount must name the record's amount."""
    claimed = payload.get("amount_cents")
    if claimed is not None and claimed != expected:
        raise PermanentJobError(f"amount_cents {claimed!r} is not the {what}'s amount")


async def payable_order(ctx: JobContext) -> Charge:
    (raw,) = require(ctx.payload, "order_id")
    row = await _row(
        ctx,
        "SELECT o.id, o.status, o.total, o.currency, o.payment_job_id, e.venue_id"
        " FROM orders o JOIN events e ON e.id = o.event_id WHERE o.id = :id",
        id=_uuid(raw, "order_id"),
    )
    if row is None:
        raise PermanentJobError(f"order {raw} does not exist")
    if row["payment_job_id"] is None or str(row["payment_job_id"]) != ctx.job_id:
        raise PermanentJobError(f"this job is not the payment job of order {raw}")
    # A retry may replay a charge its first attempt made before the order was cancelled (the
    # provider answers it from the idempotency key); the late payment is then refunded.
    retry_of_cancelled = ctx.attempt > 1 and row["status"] == "cancelled"
    if row["status"] != "pending" and not retry_of_cancelled:
        raise PermanentJobError(f"order {raw} is {row['status']}, not pending")
    amount = to_cents(row["total"])
    _claimed_amount(ctx.payload, amount, "order")
    currency = str(row["currency"]).lower()
    claimed_currency = ctx.payload.get("currency")
    if claimed_currency is not None and str(claimed_currency).lower() != currency:
        raise PermanentJobError(f"currency {claimed_currency!r} is not the order's currency")
    return Charge(str(row["id"]), amount, currency, str(row["venue_id"]))


async def refundable(ctx: JobContext) -> RefundOrder:
    raw, row = await _own_record(
        ctx,
        "refund",
        "SELECT r.id, r.order_id, r.amount, r.status, r.job_id, o.payment_intent_id"
        " FROM order_refunds r JOIN orders o ON o.id = r.order_id WHERE r.id = :id",
    )
    if not row["payment_intent_id"]:
        raise PermanentJobError(f"the order of refund {raw} has no payment to refund")
    claimed_order = ctx.payload.get("order_id")
    if claimed_order is not None and str(claimed_order) != str(row["order_id"]):
        raise PermanentJobError(f"refund {raw} belongs to another order")
    amount = to_cents(row["amount"])
    _claimed_amount(ctx.payload, amount, "refund")
    return RefundOrder(str(row["id"]), str(row["order_id"]), amount, row["payment_intent_id"])


async def payable_payout(ctx: JobContext) -> PayoutOrder:
    _, row = await _own_record(
        ctx,
        "payout",
        "SELECT id, venue_id, amount, currency, destination, status, job_id"
        " FROM payouts WHERE id = :id",
    )
    amount = to_cents(row["amount"])
    _claimed_amount(ctx.payload, amount, "payout")
    return PayoutOrder(
        str(row["id"]),
        str(row["venue_id"]),
        amount,
        str(row["currency"]).lower(),
        row["destination"],
    )
