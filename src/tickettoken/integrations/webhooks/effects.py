"""What an applied webhook changes on the platform, in the job's transaction.

The event service owns ``orders``, ``order_refunds``, ``tickets`` and ``customers``; the
integration service must not import its package (tests/test_service_boundaries.py), so these
effects are plain SQL against those tables, each guarded so it happens once:

- a Stripe refund (``refund.*`` succeeded, or each refund listed on ``charge.refunded``) of a
  platform payment: counted on its order once per Stripe refund id (``order_refunds``
  .provider_refund_id); the platform's own pending refund row with that amount is confirmed
  instead of adding a second one, so the refund job's callback later finds it settled;
- a Mailchimp unsubscribe (audience ``unsubscribe`` or Mandrill ``unsub``): the customer's
  marketing consent, ``customers.metadata.marketing_consent``, becomes false (the table has no
  consent column of its own);
- a provider entity change the platform pulls (QuickBooks entities, Square catalog and
  customers): the connection's ``next_sync_at`` becomes now, so the next incremental sync runs.

Ordering follows the event service's refund path: the order row is locked before its refunds.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

CENTS = Decimal(100)


async def apply_stripe_refund(session: AsyncSession, refund: dict[str, Any]) -> str:
    refund_id, intent = refund.get("id"), refund.get("payment_intent")
    amount_cents = refund.get("amount")
    if refund.get("status") not in (None, "succeeded"):
        return f"refund {refund.get('status')}: nothing counted"
    if not isinstance(refund_id, str) or not isinstance(intent, str):
        return "refund without id or payment_intent"
    if not isinstance(amount_cents, int) or amount_cents <= 0:
        return "refund without a positive amount"
    order = (
        await session.execute(
            text(
                "SELECT id, total, refunded_amount FROM orders"
                " WHERE payment_intent_id = :intent FOR UPDATE"
            ),
            {"intent": intent},
        )
    ).first()
    if order is None:
        return "no platform order for this payment"
    amount = Decimal(amount_cents) / CENTS
    known = (
        await session.execute(
            text(
                "SELECT id, status FROM order_refunds WHERE order_id = :order"
                " AND provider_refund_id = :refund FOR UPDATE"
            ),
            {"order": order.id, "refund": refund_id},
        )
    ).first()
    if known is not None and known.status == "succeeded":
        return "refund already counted"
    if known is None:
        known = (
            await session.execute(
                text(
                    "SELECT id, status FROM order_refunds WHERE order_id = :order"
                    " AND status = 'pending' AND amount = :amount"
                    " AND provider_refund_id IS NULL ORDER BY created_at LIMIT 1 FOR UPDATE"
                ),
                {"order": order.id, "amount": amount},
            )
        ).first()
    if known is not None:
        await session.execute(
            text(
                "UPDATE order_refunds SET status = 'succeeded', provider_refund_id = :refund,"
                " confirmed_at = now(), updated_at = now() WHERE id = :id"
            ),
            {"refund": refund_id, "id": known.id},
        )
    else:  # a refund made outside the platform (the Stripe dashboard)
        await session.execute(
            text(
                "INSERT INTO order_refunds (order_id, amount, currency, reason, status,"
                " provider_refund_id, confirmed_at)"
                " SELECT id, :amount, currency, 'stripe webhook', 'succeeded', :refund, now()"
                " FROM orders WHERE id = :order"
            ),
            {"order": order.id, "amount": amount, "refund": refund_id},
        )
    refunded = min(order.refunded_amount + amount, order.total)
    fully = refunded >= order.total
    await session.execute(
        text(
            "UPDATE orders SET refunded_amount = :refunded, status = :status, updated_at = now()"
            " WHERE id = :order"
        ),
        {
            "refunded": refunded,
            "status": "refunded" if fully else "partially_refunded",
            "order": order.id,
        },
    )
    if fully:
        await session.execute(
            text(
                "UPDATE tickets SET status = 'refunded', invalidated_at = now()"
                " WHERE order_id = :order AND status = 'issued'"
            ),
            {"order": order.id},
        )
    return "refunded" if fully else "partially_refunded"


async def clear_marketing_consent(
    session: AsyncSession, venue_id: uuid.UUID | None, email: str | None
) -> str:
    if not email:
        return "no email in the event"
    result = await session.execute(
        text(
            "UPDATE customers SET metadata = COALESCE(metadata, '{}'::jsonb)"
            " || jsonb_build_object('marketing_consent', false,"
            "    'marketing_unsubscribed_at', to_jsonb(now())), updated_at = now()"
            " WHERE lower(email) = lower(:email)"
            "   AND (CAST(:venue AS uuid) IS NULL OR venue_id = CAST(:venue AS uuid))"
            "   AND COALESCE(metadata ->> 'marketing_consent', 'true') <> 'false'"
        ),
        {"email": email, "venue": str(venue_id) if venue_id else None},
    )
    return f"consent cleared for {getattr(result, 'rowcount', 0)} customer(s)"


async def mark_for_sync(session: AsyncSession, venue_id: uuid.UUID | None, provider: str) -> str:
    if venue_id is None:
        return "no venue connected to this account"
    result = await session.execute(
        text(
            "UPDATE integration_configs SET next_sync_at = now(), updated_at = now()"
            " WHERE venue_id = :venue AND integration_type = :provider"
            "   AND (next_sync_at IS NULL OR next_sync_at > now())"
        ),
        {"venue": venue_id, "provider": provider},
    )
    return "next sync due now" if getattr(result, "rowcount", 0) else "sync already due"
