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
  customers): the connection's ``next_sync_at`` becomes now, so the next incremental sync runs;
- a Square inventory count that fell for a synced ticket item (a box-office sale): the
  decrease since the last count kept (``integration_inventory_counts``) is enqueued as a
  ``box-office-sale`` job, which the event service runs through its inventory module (the
  counters ``sold``/``reserved`` are never written from here).

Ordering follows the event service's refund path: the order row is locked before its refunds.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.kit.jobs import JOB_TYPES, JobSpec, enqueue_many
from tickettoken.kit.jobs.payloads import MAX_BOX_OFFICE_QUANTITY

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


# --- Square inventory: a box-office sale becomes a ``box-office-sale`` job ------------------

BOX_OFFICE_JOB = "box-office-sale"
SOLD_FROM_STATE = "IN_STOCK"

_FIRST_COUNT = text(
    "INSERT INTO integration_inventory_counts (venue_id, provider, catalog_object_id,"
    " location_id, state, quantity, calculated_at) VALUES (:venue, 'square', :object,"
    " :location, :state, :quantity, :at) ON CONFLICT DO NOTHING RETURNING quantity"
)
_LAST_COUNT = text(
    "SELECT quantity, calculated_at FROM integration_inventory_counts WHERE venue_id = :venue"
    " AND provider = 'square' AND catalog_object_id = :object AND location_id = :location"
    " AND state = :state FOR UPDATE"
)
_NEW_COUNT = text(
    "UPDATE integration_inventory_counts SET quantity = :quantity, calculated_at = :at,"
    " updated_at = now() WHERE venue_id = :venue AND provider = 'square'"
    " AND catalog_object_id = :object AND location_id = :location AND state = :state"
)
# The ticket type a synced catalog ITEM_VARIATION stands for (the sync engine's records:
# entity ``products``, ``remote_data.variations`` = {ticket type id: {"id": variation id}}).
_TICKET_TYPE_OF_VARIATION = text(
    "SELECT v.key FROM integration_synced_records r,"
    " jsonb_each(r.remote_data -> 'variations') AS v(key, value)"
    " WHERE r.venue_id = :venue AND r.provider = 'square' AND r.entity_type = 'products'"
    " AND v.value ->> 'id' = :object LIMIT 1"
)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class SquareCount:
    catalog_object_id: str
    location_id: str
    state: str
    quantity: Decimal
    calculated_at: datetime

    @classmethod
    def parse(cls, raw: Any) -> SquareCount | None:
        if not isinstance(raw, dict):
            return None
        try:
            object_id = str(raw["catalog_object_id"])
            quantity = Decimal(str(raw["quantity"]))
            at = datetime.fromisoformat(str(raw["calculated_at"]).replace("Z", "+00:00"))
        except (KeyError, ValueError, ArithmeticError):
            return None
        if not quantity.is_finite():
            return None
        return cls(
            object_id,
            str(raw.get("location_id") or ""),
            str(raw.get("state") or ""),
            quantity,
            _aware(at),
        )

    def params(self, venue_id: uuid.UUID) -> dict[str, Any]:
        return {
            "venue": venue_id,
            "object": self.catalog_object_id,
            "location": self.location_id,
            "state": self.state,
            "quantity": self.quantity,
            "at": self.calculated_at,
        }


SALE_KEY = re.compile(r"^[A-Za-z0-9_.:@+=/\-]{1,128}$")  # the payload's ``Ident``


def _ident(value: str) -> str | None:
    """A Square id as the payload's ``Ident`` takes it (left out if it would not fit)."""
    return value if SALE_KEY.match(value) else None


def _sale_key(event_id: str, count: SquareCount) -> str:
    """One key per delivery and variation (and location); hashed if Square's ids would not fit
    the payload's identifier rules, so a strange id never fails the delivery."""
    key = f"box-office:square:{event_id}:{count.catalog_object_id}:{count.location_id}"
    if SALE_KEY.match(key):
        return key
    return "box-office:square:" + hashlib.sha256(key.encode()).hexdigest()


async def _decrease(session: AsyncSession, venue_id: uuid.UUID, count: SquareCount) -> Decimal:
    """How far the count fell since the last one kept, and keep the newest. Nothing for the
    first count of a variation (it is the baseline), a rise (a restock or a return), or a count
    older than the last (a repeated or out-of-order delivery). Square's ``calculated_at`` has
    millisecond precision: of two counts with the same time, the lower is taken as the later
    (box-office sales only lower it), so their order of arrival does not matter."""
    params = count.params(venue_id)
    if (await session.execute(_FIRST_COUNT, params)).first() is not None:
        return Decimal(0)
    last = (await session.execute(_LAST_COUNT, params)).one()
    before = Decimal(last.quantity)
    if count.calculated_at < last.calculated_at:
        return Decimal(0)
    if count.calculated_at == last.calculated_at and count.quantity >= before:
        return Decimal(0)
    await session.execute(_NEW_COUNT, params)
    return max(before - count.quantity, Decimal(0))


async def apply_square_inventory(
    session: AsyncSession,
    venue_id: uuid.UUID | None,
    event: dict[str, Any],
) -> str:
    """Square's absolute ``IN_STOCK`` counts: each fall of a synced variation's count is seats
    sold at the box office, handed to the event service as a ``box-office-sale`` job in this
    transaction (key: the delivery and the variation). Other states (``SOLD``, ``WASTE``...) are
    the other side of the same adjustment and are not counted again."""
    if venue_id is None:
        return "no venue connected to this account"
    obj = (event.get("data") or {}).get("object") or {}
    counts = [SquareCount.parse(raw) for raw in obj.get("inventory_counts") or []]
    # One count per variation and location: the latest (of one millisecond, the lowest).
    latest: dict[tuple[str, str], SquareCount] = {}
    for c in counts:
        if c is None or c.state != SOLD_FROM_STATE:
            continue
        where = (c.catalog_object_id, c.location_id)
        kept = latest.get(where)
        if kept is None or (c.calculated_at, -c.quantity) > (kept.calculated_at, -kept.quantity):
            latest[where] = c
    in_stock = [latest[where] for where in sorted(latest)]
    event_id = event.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        return "no event_id in the delivery"
    jobs, notes = [], []
    for count in in_stock:
        sold = await _decrease(session, venue_id, count)
        if sold <= 0:
            continue
        if sold != sold.to_integral_value() or sold > MAX_BOX_OFFICE_QUANTITY:
            notes.append(f"{count.catalog_object_id}: a decrease of {sold} is not seats")
            continue
        ticket_type = (
            await session.execute(
                _TICKET_TYPE_OF_VARIATION, {"venue": venue_id, "object": count.catalog_object_id}
            )
        ).scalar()
        if ticket_type is None:
            notes.append(f"{count.catalog_object_id}: not a synced ticket item")
            continue
        key = _sale_key(event_id, count)
        payload: dict[str, Any] = {
            "venue_id": str(venue_id),
            "ticket_type_id": str(ticket_type),
            "quantity": int(sold),
            "sale_key": key,
            "source": "square",
            "event_id": _ident(event_id),
            "catalog_object_id": _ident(count.catalog_object_id),
            "location_id": _ident(count.location_id),
            "calculated_at": count.calculated_at.isoformat(),
            "count_after": int(count.quantity) if count.quantity >= 0 else None,
        }
        jobs.append(
            JobSpec(
                JOB_TYPES[BOX_OFFICE_JOB],
                BOX_OFFICE_JOB,
                {k: v for k, v in payload.items() if v is not None},
                idempotency_key=key,
                venue_id=str(venue_id),
            )
        )
        notes.append(f"{count.catalog_object_id}: {int(sold)} sold at the box office")
    if jobs:
        await enqueue_many(session, jobs)
    return "; ".join(notes) or "no box-office sale in these counts"
