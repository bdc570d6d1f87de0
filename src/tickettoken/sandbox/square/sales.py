"""Square's Orders, Payments and Inventory, as far as the platform reads and writes them.

Orders: create and search (by location, state, customer and time range). A line item naming a
``catalog_object_id`` must name an ``ITEM_VARIATION`` of the seller's catalog and takes its name,
variation name, catalog version and (unless the line gives one) price from it, as Square's
catalog line items do. Payments: create (a sandbox nonce ``cnon:card-nonce-ok`` succeeds,
``cnon:card-nonce-declined`` fails as Square's test nonces do; ``EXTERNAL`` records a payment
taken elsewhere and needs ``external_details`` with ``type`` and ``source``), get, list by time
range with ``cursor``. A payment for an ``order_id`` must fit what the order still owes; it
becomes one of the order's tenders, and an order paid in full (no fulfillments here) becomes
``COMPLETED`` with a new version. Inventory: batch changes (physical
counts and adjustments between states) against catalog item variations, and count retrieval.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from tickettoken.sandbox.square.errors import SquareError, bad_request, not_found
from tickettoken.sandbox.square.state import Seller, page, parse_time, rfc3339, square_id


class Sales:
    def __init__(self, seller: Seller) -> None:
        self.seller = seller

    def create_order(self, body: dict[str, Any]) -> dict[str, Any]:
        order_in = body.get("order") or {}
        if order_in.get("location_id") != self.seller.location_id:
            raise bad_request("INVALID_VALUE", "Invalid location id.", "order.location_id")
        total = 0
        lines = []
        for index, line in enumerate(order_in.get("line_items") or []):
            if line.get("catalog_object_id"):
                line = self._catalog_line(line, index)
            price = int((line.get("base_price_money") or {}).get("amount") or 0)
            amount = price * int(Decimal(str(line.get("quantity") or "1")))
            lines.append({**line, "uid": square_id(22), "total_money": _usd(amount)})
            total += amount
        now = rfc3339()
        order = {
            **order_in,
            "id": square_id(29),
            "line_items": lines,
            "state": order_in.get("state") or "OPEN",
            "version": 1,
            "total_money": _usd(total),
            "net_amount_due_money": _usd(total),
            "created_at": now,
            "updated_at": now,
        }
        self.seller.orders[order["id"]] = order
        return {"order": order}

    def _catalog_line(self, line: dict[str, Any], index: int) -> dict[str, Any]:
        variation_id = str(line["catalog_object_id"])
        variation = self.seller.catalog.get(variation_id)
        if variation is None or variation.get("type") != "ITEM_VARIATION":
            raise bad_request(
                "NOT_FOUND",
                f"Item variation with catalog object ID `{variation_id}` not found.",
                f"order.line_items[{index}].catalog_object_id",
            )
        data = variation.get("item_variation_data") or {}
        item = self.seller.catalog.get(str(data.get("item_id"))) or {}
        filled = {
            **line,
            "name": (item.get("item_data") or {}).get("name"),
            "variation_name": data.get("name"),
            "catalog_version": variation.get("version"),
        }
        if not line.get("base_price_money"):
            filled["base_price_money"] = data.get("price_money") or _usd(0)
        return filled

    def _pay_order(self, order_id: str, amount: int, payment_id: str) -> None:
        order = self.seller.orders.get(order_id)
        if order is None:
            raise not_found(f"Order `{order_id}` not found.", "order_id")
        if order["state"] != "OPEN":
            raise bad_request(
                "BAD_REQUEST", f"Order `{order_id}` is {order['state']}, not OPEN.", "order_id"
            )
        due = int(order["net_amount_due_money"]["amount"])
        if amount > due:
            raise bad_request(
                "INVALID_VALUE",
                f"The payment of {amount} is more than the order's amount due of {due}.",
                "amount_money",
            )
        now = rfc3339()
        tenders = [*order.get("tenders", []), {"id": payment_id, "payment_id": payment_id}]
        order.update(
            tenders=tenders,
            net_amount_due_money=_usd(due - amount),
            version=int(order["version"]) + 1,
            updated_at=now,
        )
        if due - amount == 0:
            order.update(state="COMPLETED", closed_at=now)

    def search_orders(self, body: dict[str, Any]) -> dict[str, Any]:
        locations = body.get("location_ids") or []
        if not locations:
            raise bad_request("MISSING_REQUIRED_PARAMETER", "Field must be set", "location_ids")
        filters = (body.get("query") or {}).get("filter") or {}
        states = set((filters.get("state_filter") or {}).get("states") or [])
        customers = set((filters.get("customer_filter") or {}).get("customer_ids") or [])
        span = (filters.get("date_time_filter") or {}).get("updated_at") or {}
        found = [
            order
            for order in self.seller.orders.values()
            if order["location_id"] in locations
            and (not states or order["state"] in states)
            and (not customers or order.get("customer_id") in customers)
            and _within(order["updated_at"], span)
        ]
        limit = int(body.get("limit") or 500)
        return page(found, body.get("cursor"), limit, "orders")

    def create_payment(self, body: dict[str, Any]) -> dict[str, Any]:
        for name in ("source_id", "idempotency_key", "amount_money"):
            if not body.get(name):
                raise bad_request("MISSING_REQUIRED_PARAMETER", "Field must be set", name)
        external = body["source_id"] == "EXTERNAL"
        details = body.get("external_details") or {}
        if external and not (details.get("type") and details.get("source")):
            raise bad_request(
                "MISSING_REQUIRED_PARAMETER",
                "external_details with type and source must be set for an EXTERNAL source.",
                "external_details",
            )
        if body["source_id"] == "cnon:card-nonce-declined":
            raise SquareError(
                402,
                "GENERIC_DECLINE",
                "Authorization error: 'GENERIC_DECLINE'",
                category="PAYMENT_METHOD_ERROR",
            )
        now = rfc3339()
        payment_id = square_id(29)
        if body.get("order_id"):
            self._pay_order(str(body["order_id"]), int(body["amount_money"]["amount"]), payment_id)
        payment = {
            "id": payment_id,
            "created_at": now,
            "updated_at": now,
            "amount_money": body["amount_money"],
            "total_money": body["amount_money"],
            "status": "COMPLETED",
            "source_type": "EXTERNAL" if external else "CARD",
            "external_details": details if external else None,
            "location_id": body.get("location_id") or self.seller.location_id,
            "order_id": body.get("order_id") or square_id(29),
            "customer_id": body.get("customer_id"),
            "reference_id": body.get("reference_id"),
            "note": body.get("note"),
            "receipt_number": square_id(4),
        }
        self.seller.payments[payment["id"]] = {k: v for k, v in payment.items() if v is not None}
        return {"payment": self.seller.payments[payment["id"]]}

    def get_payment(self, payment_id: str) -> dict[str, Any]:
        payment = self.seller.payments.get(payment_id)
        if payment is None:
            raise not_found(f"Could not find payment with id: {payment_id}")
        return {"payment": payment}

    def list_payments(self, query: dict[str, str]) -> dict[str, Any]:
        span = {"start_at": query.get("begin_time"), "end_at": query.get("end_time")}
        found = [
            p
            for p in self.seller.payments.values()
            if _within(p["created_at"], span)
            and (not query.get("location_id") or p["location_id"] == query["location_id"])
        ]
        found.sort(key=lambda p: p["created_at"], reverse=query.get("sort_order") != "ASC")
        limit = int(query.get("limit") or 100)
        return page(found, query.get("cursor"), min(limit, 100), "payments")

    def batch_change(self, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("idempotency_key"):
            raise bad_request("MISSING_REQUIRED_PARAMETER", "Field must be set", "idempotency_key")
        changes = body.get("changes") or []
        if len(changes) > 100:
            raise bad_request("INVALID_VALUE", "At most 100 changes per request.", "changes")
        touched: dict[tuple[str, str, str], dict[str, Any]] = {}
        for index, change in enumerate(changes):
            for key, count in self._apply(index, change):
                touched[key] = count
        self.seller.inventory_changes.extend(changes)
        return {"counts": list(touched.values()), "changes": changes}

    def _apply(
        self, index: int, change: dict[str, Any]
    ) -> list[tuple[tuple[str, str, str], dict[str, Any]]]:
        kind = change.get("type")
        detail = change.get("physical_count" if kind == "PHYSICAL_COUNT" else "adjustment")
        if kind not in {"PHYSICAL_COUNT", "ADJUSTMENT"} or not isinstance(detail, dict):
            raise bad_request("INVALID_VALUE", "Unsupported change type.", f"changes[{index}]")
        object_id = str(detail.get("catalog_object_id") or "")
        if self.seller.catalog.get(object_id, {}).get("type") != "ITEM_VARIATION":
            raise bad_request(
                "INVALID_VALUE",
                f"Item variation `{object_id}` not found.",
                f"changes[{index}].catalog_object_id",
            )
        location = str(detail.get("location_id") or "")
        quantity = Decimal(str(detail.get("quantity") or "0"))
        if kind == "PHYSICAL_COUNT":
            return [self._set(object_id, location, detail.get("state", "IN_STOCK"), quantity)]
        source = self._count(object_id, location, detail.get("from_state", "NONE"))
        target = self._count(object_id, location, detail.get("to_state", "IN_STOCK"))
        return [
            self._set(object_id, location, source["state"], Decimal(source["quantity"]) - quantity),
            self._set(object_id, location, target["state"], Decimal(target["quantity"]) + quantity),
        ]

    def _count(self, object_id: str, location: str, state: str) -> dict[str, Any]:
        found = self.seller.counts.get((object_id, location, state))
        return found or {"state": state, "quantity": "0"}

    def _set(
        self, object_id: str, location: str, state: str, quantity: Decimal
    ) -> tuple[tuple[str, str, str], dict[str, Any]]:
        count = {
            "catalog_object_id": object_id,
            "catalog_object_type": "ITEM_VARIATION",
            "state": state,
            "location_id": location,
            "quantity": str(quantity),
            "calculated_at": rfc3339(time.time()),
        }
        self.seller.counts[(object_id, location, state)] = count
        return (object_id, location, state), count

    def retrieve_counts(self, body: dict[str, Any]) -> dict[str, Any]:
        ids = set(body.get("catalog_object_ids") or [])
        locations = set(body.get("location_ids") or [])
        found = [
            count
            for count in self.seller.counts.values()
            if (not ids or count["catalog_object_id"] in ids)
            and (not locations or count["location_id"] in locations)
            and count["state"] != "NONE"
        ]
        return page(found, body.get("cursor"), int(body.get("limit") or 1000), "counts")


def _usd(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


def _within(at: str, span: dict[str, Any]) -> bool:
    moment = parse_time(at)
    if span.get("start_at") and moment < parse_time(span["start_at"]):
        return False
    return not (span.get("end_at") and moment > parse_time(span["end_at"]))
