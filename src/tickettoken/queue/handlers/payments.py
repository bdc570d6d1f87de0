"""Money jobs against a Stripe-compatible API: ``payment-process``, ``refund-process``,
``payout-process``.

Each call carries the job's idempotency key as Stripe's ``Idempotency-Key``: a job re-run after a
crash (lease expired before the worker recorded the result) replays Stripe's first answer
instead of charging again. A card decline (402) is permanent; 429/5xx are retried.

What is charged, refunded or paid out comes from the platform's own record, checked before any
provider call (``money_records``), never from the job's payload alone. Stripe refuses to confirm
a PaymentIntent without a payment method; with a test key (``sk_test_...``) an order whose
customer gave none is charged with Stripe's test card, with a live key it fails.
"""

from __future__ import annotations

from typing import Any

import httpx

from tickettoken.kit.jobs import JobContext, PermanentJobError
from tickettoken.queue.handlers.money_records import payable_order, payable_payout, refundable
from tickettoken.queue.handlers.provider_calls import call_provider, endpoint

PROVIDER = "stripe"
TEST_CARD = "pm_card_visa"
"""Stripe's test card, used only with a test key when the customer gave no payment method."""


def _auth(ctx: JobContext) -> dict[str, str]:
    key = ctx.settings.stripe_secret_key
    if not key:
        raise PermanentJobError("STRIPE_SECRET_KEY is not configured")
    return {"Authorization": f"Bearer {key}"}


def _metadata(ctx: JobContext, values: dict[str, Any]) -> dict[str, str]:
    form = {f"metadata[{k}]": str(v) for k, v in values.items() if v is not None}
    form["metadata[job_id]"] = ctx.job_id
    return form


async def _post(ctx: JobContext, url: str, form: dict[str, str]) -> httpx.Response:
    """POST a form to the payments API with the job's idempotency key (stable across retries)."""
    return await call_provider(
        ctx,
        PROVIDER,
        "POST",
        url,
        idempotency_key=ctx.idempotency_key,
        headers=_auth(ctx),
        data=form,
    )


def _payment_method(ctx: JobContext) -> str:
    given = ctx.payload.get("payment_method")
    if given:
        return str(given)
    if (ctx.settings.stripe_secret_key or "").startswith("sk_test_"):
        return TEST_CARD
    raise PermanentJobError("the order has no payment method")


async def process_payment(ctx: JobContext) -> dict[str, Any]:
    """Create and confirm a PaymentIntent for a pending order, for the order's amount."""
    base = endpoint(ctx.settings.stripe_base_url, "STRIPE_BASE_URL")
    charge = await payable_order(ctx)
    form = {
        "amount": str(charge.amount_cents),
        "currency": charge.currency,
        "confirm": "true",
        "payment_method": _payment_method(ctx),
        **_metadata(ctx, {"order_id": charge.order_id, "venue_id": charge.venue_id}),
    }
    if ctx.payload.get("customer_id"):
        form["customer"] = str(ctx.payload["customer_id"])
    response = await _post(ctx, f"{base}/v1/payment_intents", form)
    intent = response.json()
    if intent.get("status") != "succeeded":
        raise PermanentJobError(f"payment intent {intent.get('id')} is {intent.get('status')}")
    return {
        "payment_intent_id": intent["id"],
        "charge_id": intent.get("latest_charge"),
        "status": intent["status"],
        "amount_cents": intent["amount"],
        "currency": intent["currency"],
        "order_id": charge.order_id,
        "replayed": response.headers.get("Idempotent-Replayed") == "true",
    }


async def process_refund(ctx: JobContext) -> dict[str, Any]:
    """Refund a refund row of an order (all or part of its payment); one job per refund."""
    base = endpoint(ctx.settings.stripe_base_url, "STRIPE_BASE_URL")
    refund = await refundable(ctx)
    form: dict[str, str] = {
        "payment_intent": refund.payment_intent_id,
        "amount": str(refund.amount_cents),
        **_metadata(ctx, {"refund_id": refund.refund_id, "order_id": refund.order_id}),
    }
    if ctx.payload.get("reason"):
        form["reason"] = str(ctx.payload["reason"])
    response = await _post(ctx, f"{base}/v1/refunds", form)
    answer = response.json()
    return {
        "refund_id": refund.refund_id,
        "order_id": refund.order_id,
        "provider_refund_id": answer["id"],
        "status": answer["status"],
        "amount_cents": answer["amount"],
        "charge_id": answer.get("charge"),
        "payment_intent_id": answer.get("payment_intent"),
    }


async def process_payout(ctx: JobContext) -> dict[str, Any]:
    """Pay a venue the payout row the platform created, to the row's destination."""
    base = endpoint(ctx.settings.stripe_base_url, "STRIPE_BASE_URL")
    payout = await payable_payout(ctx)
    form = {
        "amount": str(payout.amount_cents),
        "currency": payout.currency,
        "destination": payout.destination,
        **_metadata(ctx, {"payout_id": payout.payout_id, "venue_id": payout.venue_id}),
    }
    response = await _post(ctx, f"{base}/v1/payouts", form)
    answer = response.json()
    return {
        "payout_id": payout.payout_id,
        "provider_payout_id": answer["id"],
        "status": answer["status"],
        "amount_cents": answer["amount"],
        "currency": answer["currency"],
        "destination": answer.get("destination"),
    }
