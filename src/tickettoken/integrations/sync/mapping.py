"""The default field mapping: what a venue's records become at a provider.

One place, on purpose: the mappings package (``integration_configs.field_mappings``) will replace
``map_product``/``map_customer`` with the venue's own mapping. Each returns a plain JSON record
whose ``content_hash`` decides whether a provider write is needed at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson

# Hashes start with this mark since they are taken over orjson's bytes (a sync hashes every
# record it reads, and the standard library's encoder was a tenth of the worker's CPU). A stored
# hash without it is the earlier kind, over ``json.dumps``: compared as that kind, so records
# synced before the change are not pushed again.
HASH_MARK = "~"


def content_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "content_hash"}
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS, default=str)
    return HASH_MARK + hashlib.sha256(canonical).hexdigest()[:63]


def legacy_content_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "content_hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def same_content(stored_hash: str, record: dict[str, Any]) -> bool:
    """Whether ``record`` (mapped, with its ``content_hash``) is what was synced under
    ``stored_hash``, whichever kind of hash that is; an empty stored hash never matches."""
    if not stored_hash or stored_hash.startswith(HASH_MARK):
        return bool(stored_hash == record["content_hash"])
    return stored_hash == legacy_content_hash(record)


def cents(amount: Decimal | float | int) -> int:
    return int((Decimal(str(amount)) * 100).to_integral_value())


def map_product(event: dict[str, Any], ticket_types: list[dict[str, Any]]) -> dict[str, Any]:
    """An event and its ticket types: one product (Square ITEM, Stripe product) whose variations
    (Square ITEM_VARIATION, Stripe prices) are the ticket types."""
    record: dict[str, Any] = {
        "local_id": str(event["id"]),
        "name": str(event["name"])[:255],
        "description": (event.get("description") or "")[:4000],
        "variations": [
            {
                "local_id": str(tt["id"]),
                "name": str(tt["name"])[:255],
                "price_cents": cents(tt["price"]),
                "currency": str(tt["currency"]).upper(),
            }
            for tt in sorted(ticket_types, key=lambda t: str(t["id"]))
        ],
    }
    record["content_hash"] = content_hash(record)
    return record


def map_customer(customer: dict[str, Any]) -> dict[str, Any]:
    """A ``customers`` row (with its ``marketing_consent`` column, migration 0016) as pushed."""
    record: dict[str, Any] = {
        "local_id": str(customer["id"]),
        "email": customer.get("email"),
        "given_name": customer.get("first_name"),
        "family_name": customer.get("last_name"),
        "phone": customer.get("phone"),
        "marketing_consent": bool(customer.get("marketing_consent")),
    }
    record["content_hash"] = content_hash(record)
    return record


def map_transaction(
    order: dict[str, Any],
    items: list[dict[str, Any]],
    refunds: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A paid order: an invoice for its customer with one line per ticket type bought, and the
    refunds confirmed on it (only when there are: an order without keeps its hash)."""
    record: dict[str, Any] = {
        "local_id": str(order["id"]),
        "customer_id": str(order["customer_id"]),
        "event_id": str(order["event_id"]),
        "currency": str(order["currency"]).upper(),
        "total_cents": cents(order["total"]),
        # paid, partially_refunded or refunded: a refund changes the record
        "status": str(order.get("status") or "paid"),
        "lines": [
            {
                "ticket_type_id": str(item["ticket_type_id"]),
                "quantity": int(item["quantity"]),
                "unit_price_cents": cents(item["unit_price"]),
                "amount_cents": cents(item["subtotal"]),
            }
            for item in sorted(items, key=lambda i: str(i["id"]))
        ],
    }
    if refunds:
        record["refunds"] = [
            {
                "id": str(refund["id"]),
                "amount_cents": cents(refund["amount"]),
                "date": refund["confirmed_at"].date().isoformat()
                if refund.get("confirmed_at")
                else None,
            }
            for refund in sorted(refunds, key=lambda r: str(r["id"]))
        ]
    record["content_hash"] = content_hash(record)
    return record


# What a provider holds of a customer, in the platform's terms: the view of a record we pushed
# and the view of a customer read back are built alike, so their hashes tell whether the provider
# changed it since our last sync. Empty values are left out (a provider that holds no phone says
# nothing about the platform's phone).
CUSTOMER_FIELDS = {
    "square": ("first_name", "last_name", "email", "phone"),
    "stripe": ("name", "email", "phone"),
    "mailchimp": ("first_name", "last_name", "email", "marketing_consent"),
    "quickbooks": ("first_name", "last_name", "email", "phone"),
}


def customer_view(provider: str, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` in platform names (first_name, last_name, email, phone, marketing_consent,
    or name for Stripe's one name field), reduced to what ``provider`` keeps."""
    view = {}
    for name in CUSTOMER_FIELDS[provider]:
        value = values.get(name)
        if name == "name" and value is None:
            parts = (values.get("first_name"), values.get("last_name"))
            value = " ".join(p for p in parts if p) or None
        if value is None or value == "":
            continue
        view[name] = value if isinstance(value, bool) else str(value)
    return view


def pushed_customer_view(provider: str, record: dict[str, Any]) -> dict[str, Any]:
    """What the provider holds after a push of ``record`` (a ``map_customer`` record)."""
    values: dict[str, Any] = {
        "first_name": record.get("given_name"),
        "last_name": record.get("family_name"),
        "email": record.get("email"),
        "phone": None if provider == "quickbooks" else record.get("phone"),
    }
    if provider == "mailchimp":
        values["marketing_consent"] = bool(record.get("marketing_consent"))
    return customer_view(provider, values)


def view_hash(view: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()
