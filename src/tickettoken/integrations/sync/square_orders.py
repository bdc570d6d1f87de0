"""Paid orders to Square: an Order whose line items are the synced catalog variations (at the
price the buyer paid) for the synced customer, then an ``EXTERNAL`` payment of its total, which
closes it (``COMPLETED``): Square reports the sale and its items, and knows the money was taken
elsewhere (by the platform's payment provider).

Square has no batch endpoint for orders: two calls an order, each with an idempotency key stable
per order (not per content), so a retry after a lost answer gets Square's first order and payment
back instead of a second sale.

An order already synced is never created again. Square orders are not freely editable (a
completed order is closed; changes go through returns and refunds of Square's own payments, which
these are not), so a synced order that changed at the platform since (a refund, a partial refund)
is left as sent: no call, counted as skipped, and a note in the sync log says so. Refunds stay with
the payment provider that took the money.
"""

from __future__ import annotations

import uuid
from typing import Any

from tickettoken.integrations.providers import Credentials, Provider, ProviderError, SquareProvider
from tickettoken.integrations.sync.pushers import Known, PushResult, _key, changed, saved_record

EXTERNAL_SOURCE = "TicketToken"


def _order_body(
    record: dict[str, Any], location: str, customer_id: str, variations: dict[str, Any]
) -> dict[str, Any]:
    return {
        "location_id": location,
        "reference_id": record["local_id"][:40],
        "customer_id": customer_id,
        "line_items": [
            {
                "catalog_object_id": variations[line["ticket_type_id"]]["id"],
                "quantity": str(line["quantity"]),
                "base_price_money": {
                    "amount": line["unit_price_cents"],
                    "currency": record["currency"],
                },
            }
            for line in record["lines"]
        ],
    }


def _missing(record: dict[str, Any], known: Known) -> str | None:
    if not record["lines"]:
        return "no lines"
    if f"customer:{record['customer_id']}" not in known:
        return "customer not synced yet"
    product = known.get(f"product:{record['event_id']}")
    variations = ((product or {}).get("remote_data") or {}).get("variations", {})
    if any(line["ticket_type_id"] not in variations for line in record["lines"]):
        return "ticket types not synced yet"
    return None


async def square_transactions(
    provider: Provider,
    credentials: Credentials,
    venue_id: uuid.UUID,
    records: list[dict[str, Any]],
    known: Known,
) -> PushResult:
    """``known`` holds the synced orders and, as ``customer:<id>`` and ``product:<event id>``,
    the synced customers and events the orders refer to."""
    assert isinstance(provider, SquareProvider)
    result = PushResult()
    todo = []
    for record in changed(records, known, result):
        if record["local_id"] in known:
            result.skipped += 1
            result.notes.append(
                f"order {record['local_id']} changed after it was sent to Square:"
                " Square orders are kept as created (refunds stay with the payment provider)"
            )
            continue
        if record["status"] == "refunded":
            result.skipped += 1
            result.notes.append(
                f"order {record['local_id']} was refunded before it was sent to Square: not sent"
            )
            continue
        why = _missing(record, known)
        if why:
            result.failed.append((record["local_id"], why))
        else:
            todo.append(record)
    if not todo:
        return result
    result.api_calls += 1
    locations = await provider.list_locations(credentials)
    if not locations:
        result.failed += [(r["local_id"], "the Square seller has no location") for r in todo]
        return result
    location = str(locations[0].id)
    for record in todo:
        customer = known[f"customer:{record['customer_id']}"]["remote_id"]
        variations = known[f"product:{record['event_id']}"]["remote_data"]["variations"]
        body = _order_body(record, location, customer, variations)
        try:
            result.api_calls += 1
            order = await provider.create_order(
                credentials,
                body,
                idempotency_key=_key("square-order", str(venue_id), record["local_id"]),
            )
            result.api_calls += 1
            payment = await provider.create_payment(
                credentials,
                {
                    "source_id": "EXTERNAL",
                    "external_details": {"type": "OTHER", "source": EXTERNAL_SOURCE},
                    # What Square computed the order owes (its lines at the prices sent).
                    "amount_money": {
                        "amount": order.total_money.amount,
                        "currency": order.total_money.currency,
                    },
                    "order_id": order.id,
                    "customer_id": customer,
                    "location_id": location,
                    "reference_id": record["local_id"][:40],
                },
                idempotency_key=_key("square-payment", str(venue_id), record["local_id"]),
            )
        except ProviderError as exc:
            if exc.retryable:
                raise
            result.failed.append((record["local_id"], str(exc)))
            continue
        result.saved.append(
            saved_record(
                record,
                str(order.id),
                str(order.version),
                {"payment_id": str(payment.id), "location_id": location},
            )
        )
    return result
