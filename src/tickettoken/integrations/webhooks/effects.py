"""What an applied webhook changes on the platform, in the job's transaction.

The event service owns ``orders``, ``order_refunds``, ``tickets``, ``customers`` and the
inventory; the integration service must not import its package (tests/test_service_boundaries.py)
nor write its tables. So an effect on them is a job of the event service, enqueued here in the
``webhook`` job's transaction (the delivery's status and its jobs commit together), with a key
per delivery so one provider event makes one job however often its webhook job runs:

- a Stripe refund (``refund.*`` succeeded, or each refund listed on ``charge.refunded``): a
  ``provider-refund`` job; the orders module checks the claim against the order and counts it
  once (events/orders/provider_refunds.py);
- a Mailchimp unsubscribe (audience ``unsubscribe`` or Mandrill ``unsub``): a
  ``marketing-unsubscribe`` job; the customers module clears the consent
  (events/customers/consent.py);
- a Square inventory count that fell for a synced ticket item (a box-office sale): the
  decrease since the last count kept (``integration_inventory_counts``, the integration's own
  table) is a ``box-office-sale`` job, run through the inventory module; a fall of its ``SOLD``
  count (a Square refund or cancelled order that put seats back in stock) is a
  ``box-office-return`` job.

What stays here is the integration's own: a provider entity change the platform pulls
(QuickBooks entities, Square catalog and customers) makes the connection's ``next_sync_at``
now, so the next incremental sync runs; unless it is the echo of the sync's own write (the
object at the version the synced record holds: ``is_echo``), which would run a sync that
writes nothing.
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

from tickettoken.integrations.sync.echo import echo_key, echo_time
from tickettoken.kit.jobs import JOB_TYPES, JobSpec, enqueue_many
from tickettoken.kit.jobs.payloads import MAX_BOX_OFFICE_QUANTITY

# The payload's ``EmailAddress`` rule (kit/jobs/payloads.py).
_PART = r"[^@,;<>\x00-\x20\x7f-\xa0]+"
EMAIL = re.compile(rf"^{_PART}@{_PART}\.{_PART}$")


REFUND_JOB = "provider-refund"
UNSUBSCRIBE_JOB = "marketing-unsubscribe"


def _job(job_type: str, payload: dict[str, Any], key: str, venue_id: uuid.UUID | None) -> JobSpec:
    return JobSpec(
        JOB_TYPES[job_type],
        job_type,
        {k: v for k, v in payload.items() if v is not None},
        idempotency_key=key,
        venue_id=str(venue_id) if venue_id else None,
    )


def _job_key(job_type: str, *parts: str) -> str:
    """One key per delivery (and refund): hashed when the provider's ids would not fit."""
    key = ":".join((job_type, *parts))
    if SALE_KEY.match(key):
        return key
    return f"{job_type}:" + hashlib.sha256(key.encode()).hexdigest()


async def enqueue_stripe_refunds(
    session: AsyncSession,
    venue_id: uuid.UUID | None,
    delivery: uuid.UUID,
    event_id: str | None,
    refunds: list[Any],
) -> str:
    """Each succeeded refund of the delivery becomes a ``provider-refund`` job (key: the delivery
    and the refund), which the event service's orders module checks and counts on its order."""
    jobs, notes = [], []
    for refund in refunds:
        if not isinstance(refund, dict):
            notes.append("refund is not an object")
            continue
        refund_id, intent = refund.get("id"), refund.get("payment_intent")
        amount = refund.get("amount")
        if refund.get("status") not in (None, "succeeded"):
            notes.append(f"refund {refund.get('status')}: nothing counted")
        elif not isinstance(refund_id, str) or not isinstance(intent, str):
            notes.append("refund without id or payment_intent")
        elif not _ident(refund_id) or not _ident(intent):
            notes.append("refund ids are not Stripe ids")
        elif isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            notes.append(f"{refund_id}: no positive amount")
        else:
            currency = refund.get("currency")
            payload = {
                "platform_refund_id": _uuid((refund.get("metadata") or {}).get("refund_id")),
                "provider": "stripe",
                "provider_refund_id": refund_id,
                "payment_intent": intent,
                "amount_cents": amount,
                "currency": currency if isinstance(currency, str) else None,
                "venue_id": str(venue_id) if venue_id else None,
                "event_id": _ident(event_id) if event_id else None,
                "webhook_id": str(delivery),
            }
            key = _job_key(REFUND_JOB, str(delivery), refund_id)
            jobs.append(_job(REFUND_JOB, payload, key, venue_id))
            notes.append(f"{refund_id}: handed to the orders module")
    if jobs:
        await enqueue_many(session, jobs)
    return "; ".join(notes) or "no refund in the event"


def _uuid(value: Any) -> str | None:
    try:
        return str(uuid.UUID(str(value))) if value else None
    except ValueError:
        return None


def _fired_at(value: Any) -> str | None:
    """Mailchimp's ``fired_at`` (``2026-11-27 10:00:00``, UTC) or Mandrill's ``ts`` (unix)."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC).isoformat()
        if isinstance(value, str) and value:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return _aware(moment).isoformat()
    except (ValueError, OverflowError, OSError):
        return None
    return None


async def enqueue_unsubscribe(
    session: AsyncSession,
    venue_id: uuid.UUID | None,
    delivery: uuid.UUID,
    email: Any,
    source: str,
    fired_at: Any,
) -> str:
    """A ``marketing-unsubscribe`` job (key: the delivery) for the event service's customers
    module: the venue's customers with that email, or every venue's (``venue_id`` None)."""
    if not isinstance(email, str) or not email:
        return "no email in the event"
    if len(email) > 254 or not EMAIL.match(email):
        return "the email is not an address"
    payload = {
        "email": email,
        "source": source,
        "venue_id": str(venue_id) if venue_id else None,
        "unsubscribed_at": _fired_at(fired_at),
        "webhook_id": str(delivery),
    }
    await enqueue_many(
        session,
        [_job(UNSUBSCRIBE_JOB, payload, _job_key(UNSUBSCRIBE_JOB, str(delivery)), venue_id)],
    )
    return "handed to the customers module"


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


_SQUARE_ECHO = text(
    "SELECT remote_version FROM integration_synced_records WHERE venue_id = :venue"
    " AND provider = 'square' AND remote_id = :id AND entity_type = 'customers'"
)
_SQUARE_CATALOG_ECHO = text(
    "SELECT DISTINCT remote_data ->> 'catalog_updated_at' FROM integration_synced_records"
    " WHERE venue_id = :venue AND provider = 'square' AND entity_type = 'products'"
    " AND remote_data ? 'catalog_updated_at'"
)
_QUICKBOOKS_ECHO = text(
    "SELECT remote_data -> 'echo' ->> :key FROM integration_synced_records"
    " WHERE venue_id = :venue AND provider = 'quickbooks' AND (remote_data -> 'echo') ? :key"
)


async def is_echo(
    session: AsyncSession, venue_id: uuid.UUID | None, provider: str, payload: dict[str, Any]
) -> str | None:
    """Why the change is the platform's own write (or older than it), or None: a change made at
    the provider, or one that cannot be told apart, is pulled. Square: a ``customer.*`` event
    whose customer the sync holds at that ``version`` or a later one, or a catalog version the
    sync's batch upserts made (or an earlier one). QuickBooks: an entity
    the sync wrote or read (``sync/echo.py``) at that ``lastUpdated`` or later (a notification
    of an earlier write of the sync's, e.g. an invoice's create after its payment, arrives
    too). Not newer is enough: the sync's writes carry the version they expect, so a change at
    the provider the sync has not seen would have refused them. QuickBooks times have whole
    seconds: an edit there in the same second as the sync's write of that object is taken for
    the echo and waits for the next scheduled sync."""
    if venue_id is None:
        return None
    if provider == "square":
        data = payload.get("data") or {}
        if data.get("type") == "catalog_version":
            return await _square_catalog_echo(session, venue_id, data)
        customer = (data.get("object") or {}).get("customer") or {}
        version, object_id = customer.get("version"), customer.get("id")
        if data.get("type") != "customer" or not isinstance(object_id, str):
            return None
        if isinstance(version, bool) or not isinstance(version, int) or object_id != data.get("id"):
            return None
        params = {"venue": venue_id, "id": object_id}
        held = [str(v) for v in (await session.execute(_SQUARE_ECHO, params)).scalars()]
        if not any(v.isdigit() and int(v) >= version for v in held):
            return None
        return f"echo of the sync's own write (customer {object_id} version {version})"
    if provider == "quickbooks":
        at = echo_time(payload.get("time"))
        entity, object_id = payload.get("entity"), payload.get("entity_id")
        if at is None or payload.get("operation") not in ("create", "update", "created", "updated"):
            return None
        if not isinstance(entity, str) or not isinstance(object_id, str):
            return None
        key = echo_key(entity, object_id)
        found = await session.execute(_QUICKBOOKS_ECHO, {"venue": venue_id, "key": key})
        # One UTC spelling (echo_time), so the strings compare as the instants do.
        if not any(isinstance(t, str) and t >= at for t in found.scalars()):
            return None
        return f"echo of the sync's own write ({entity} {object_id} at {at})"
    return None


def _instant(value: Any) -> datetime | None:
    """An RFC 3339 time with its zone, to the full precision given; None if it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


async def _square_catalog_echo(
    session: AsyncSession, venue_id: uuid.UUID, data: dict[str, Any]
) -> str | None:
    """A ``catalog.version.updated`` whose catalog version is one the sync's batch upserts
    made, or an earlier one. The platform never reads the catalog back, so a later version
    (a change made at Square) only makes the connection due, as before."""
    at = ((data.get("object") or {}).get("catalog_version") or {}).get("updated_at")
    version = _instant(at)
    if version is None:
        return None
    written = await session.execute(_SQUARE_CATALOG_ECHO, {"venue": venue_id})
    if not any((mine := _instant(v)) is not None and mine >= version for v in written.scalars()):
        return None
    return f"echo of the sync's own write (catalog version {at})"


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
    """How far the count (of its state: ``IN_STOCK`` for sales, ``SOLD`` for returns) fell
    since the last one kept, and keep the newest. Nothing for the first count of a variation (it
    is the baseline), a rise, or a count older than the last (a repeated or out-of-order
    delivery). Square's ``calculated_at`` has millisecond precision: of two counts with the same
    time, the lower is taken as the later (a sale only lowers ``IN_STOCK``; for ``SOLD`` a sale
    and a return in one millisecond may be misordered), so arrival order does not matter."""
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


RETURN_JOB = "box-office-return"
RETURNED_FROM_STATE = "SOLD"


def _latest(counts: list[SquareCount | None], state: str) -> list[SquareCount]:
    """One count per variation and location in ``state``: the latest (of one millisecond, the
    lowest), in variation order."""
    latest: dict[tuple[str, str], SquareCount] = {}
    for c in counts:
        if c is None or c.state != state:
            continue
        where = (c.catalog_object_id, c.location_id)
        kept = latest.get(where)
        if kept is None or (c.calculated_at, -c.quantity) > (kept.calculated_at, -kept.quantity):
            latest[where] = c
    return [latest[where] for where in sorted(latest)]


def _seats(change: Decimal, count: SquareCount, notes: list[str]) -> int | None:
    if change != change.to_integral_value() or change > MAX_BOX_OFFICE_QUANTITY:
        notes.append(f"{count.catalog_object_id}: a change of {change} is not seats")
        return None
    return int(change)


async def apply_square_inventory(
    session: AsyncSession,
    venue_id: uuid.UUID | None,
    event: dict[str, Any],
) -> str:
    """Square's absolute counts: each fall of a synced variation's ``IN_STOCK`` count is seats
    sold at the box office (a ``box-office-sale`` job); each fall of its ``SOLD`` count is seats
    given back (a Square refund with restock, a cancelled order: ``SOLD -> IN_STOCK``), a
    ``box-office-return`` job. Both are enqueued in this transaction, keyed by the delivery and
    the variation. A restock (``NONE -> IN_STOCK``) raises ``IN_STOCK`` only and moves nothing;
    other states (``WASTE``...) are not read."""
    if venue_id is None:
        return "no venue connected to this account"
    obj = (event.get("data") or {}).get("object") or {}
    counts = [SquareCount.parse(raw) for raw in obj.get("inventory_counts") or []]
    event_id = event.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        return "no event_id in the delivery"
    jobs: list[JobSpec] = []
    notes: list[str] = []
    for state, job_type in ((SOLD_FROM_STATE, BOX_OFFICE_JOB), (RETURNED_FROM_STATE, RETURN_JOB)):
        for count in _latest(counts, state):
            fell = await _decrease(session, venue_id, count)
            seats = _seats(fell, count, notes) if fell > 0 else None
            if not seats:
                continue
            ticket_type = (
                await session.execute(
                    _TICKET_TYPE_OF_VARIATION,
                    {"venue": venue_id, "object": count.catalog_object_id},
                )
            ).scalar()
            if ticket_type is None:
                notes.append(f"{count.catalog_object_id}: not a synced ticket item")
                continue
            jobs.append(
                _inventory_job(job_type, venue_id, str(ticket_type), seats, event_id, count)
            )
            verb = "sold at" if job_type == BOX_OFFICE_JOB else "given back to"
            notes.append(f"{count.catalog_object_id}: {seats} {verb} the box office")
    if jobs:
        await enqueue_many(session, jobs)
    return "; ".join(notes) or "no box-office sale or return in these counts"


def _inventory_job(
    job_type: str,
    venue_id: uuid.UUID,
    ticket_type: str,
    seats: int,
    event_id: str,
    count: SquareCount,
) -> JobSpec:
    after = int(count.quantity) if count.quantity >= 0 else None
    key = _sale_key(event_id, count)
    if job_type == RETURN_JOB:
        key = key.replace("box-office:", "box-office-return:", 1)
    payload: dict[str, Any] = {
        "venue_id": str(venue_id),
        "ticket_type_id": ticket_type,
        "quantity": seats,
        "sale_key" if job_type == BOX_OFFICE_JOB else "return_key": key,
        "source": "square",
        "event_id": _ident(event_id),
        "catalog_object_id": _ident(count.catalog_object_id),
        "location_id": _ident(count.location_id),
        "calculated_at": count.calculated_at.isoformat(),
        "count_after" if job_type == BOX_OFFICE_JOB else "sold_count_after": after,
    }
    return _job(job_type, payload, key, venue_id)
