"""Money jobs against a Stripe-compatible API: ``payment-process``, ``refund-process``,
``payout-process``.

Each call carries the job's idempotency key as Stripe's ``Idempotency-Key``: a job re-run after a
crash (lease expired before the worker recorded the result) replays Stripe's first answer
instead of charging again. A card decline (402) is permanent; 429/5xx are retried.
"""

from __future__ import annotations

from typing import Any

import httpx

from tickettoken.kit.jobs import JobContext, PermanentJobError
from tickettoken.queue.handlers.provider_calls import call_provider, endpoint, require

PROVIDER = "stripe"


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


def _amount(payload: dict[str, Any], name: str = "amount_cents") -> int:
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise PermanentJobError(f"{name} must be a positive integer number of cents")
    return value


async def process_payment(ctx: JobContext) -> dict[str, Any]:
    """Create and confirm a PaymentIntent (or confirm an existing one) for an order."""
    payload = ctx.payload
    base = endpoint(ctx.settings.stripe_base_url, "STRIPE_BASE_URL")
    intent_id = payload.get("payment_intent_id")
    if intent_id:
        form = (
            {"payment_method": str(payload["payment_method"])}
            if payload.get("payment_method")
            else {}
        )
        response = await _post(ctx, f"{base}/v1/payment_intents/{intent_id}/confirm", form)
    else:
        (order_id,) = require(payload, "order_id")
        form = {
            "amount": str(_amount(payload)),
            "currency": str(payload.get("currency", "usd")).lower(),
            "confirm": "true",
            **_metadata(ctx, {"order_id": order_id, "venue_id": payload.get("venue_id")}),
        }
        for name in ("customer_id", "payment_method"):
            if payload.get(name):
                form["customer" if name == "customer_id" else name] = str(payload[name])
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
        "order_id": payload.get("order_id"),
        "replayed": response.headers.get("Idempotent-Replayed") == "true",
    }


async def process_refund(ctx: JobContext) -> dict[str, Any]:
    """Refund all or part of a payment; each refund id is its own idempotent job."""
    payload = ctx.payload
    base = endpoint(ctx.settings.stripe_base_url, "STRIPE_BASE_URL")
    (refund_id,) = require(payload, "refund_id")
    form: dict[str, str] = _metadata(
        ctx, {"refund_id": refund_id, "order_id": payload.get("order_id")}
    )
    if payload.get("charge_id"):
        form["charge"] = str(payload["charge_id"])
    elif payload.get("payment_intent_id"):
        form["payment_intent"] = str(payload["payment_intent_id"])
    else:
        raise PermanentJobError("payload needs payment_intent_id or charge_id")
    if payload.get("amount_cents") is not None:
        form["amount"] = str(_amount(payload))
    if payload.get("reason"):
        form["reason"] = str(payload["reason"])
    response = await _post(ctx, f"{base}/v1/refunds", form)
    refund = response.json()
    return {
        "refund_id": refund_id,
        "provider_refund_id": refund["id"],
        "status": refund["status"],
        "amount_cents": refund["amount"],
        "charge_id": refund.get("charge"),
        "payment_intent_id": refund.get("payment_intent"),
    }


async def process_payout(ctx: JobContext) -> dict[str, Any]:
    """Pay a venue out."""
    payload = ctx.payload
    base = endpoint(ctx.settings.stripe_base_url, "STRIPE_BASE_URL")
    (payout_id,) = require(payload, "payout_id")
    form = {
        "amount": str(_amount(payload)),
        "currency": str(payload.get("currency", "usd")).lower(),
        **_metadata(ctx, {"payout_id": payout_id, "venue_id": payload.get("venue_id")}),
    }
    if payload.get("destination"):
        form["destination"] = str(payload["destination"])
    response = await _post(ctx, f"{base}/v1/payouts", form)
    payout = response.json()
    return {
        "payout_id": payout_id,
        "provider_payout_id": payout["id"],
        "status": payout["status"],
        "amount_cents": payout["amount"],
        "currency": payout["currency"],
    }
