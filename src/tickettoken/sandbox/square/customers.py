"""Square's Customers API: create, retrieve, update (with ``version``), list and search.

Square requires at least one of given name, family name, company name, email or phone on
create; an update that names a ``version`` other than the stored one fails with
``VERSION_MISMATCH`` (Square's optimistic concurrency); search filters by exact or fuzzy email,
phone, reference id and created/updated time ranges, paged with ``cursor`` and ``limit``.

Bulk create and bulk update take a map of 1 to 100 entries (keyed by idempotency key, or by
customer id) and answer ``responses`` under the same keys, each either ``{"customer"}`` or
``{"errors"}``: one entry's refusal fails that entry only. A more-than-100 map is refused whole
with ``TOO_MANY_MAP_ENTRIES`` (a code of Square's ``ErrorCode``). A bulk-create key seen before
with the same data answers its first customer again and creates nothing.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

from tickettoken.sandbox.square.errors import SquareError, bad_request, not_found
from tickettoken.sandbox.square.state import Seller, page, parse_time, rfc3339, square_id

IDENTIFYING = ("given_name", "family_name", "company_name", "email_address", "phone_number")
WRITABLE = (
    *IDENTIFYING,
    "nickname",
    "address",
    "reference_id",
    "note",
    "birthday",
    "tax_ids",
)
MAX_BULK = 100


class Customers:
    def __init__(self, seller: Seller) -> None:
        self.customers = seller.customers

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        if not any(body.get(name) for name in IDENTIFYING):
            raise bad_request(
                "BAD_REQUEST",
                "At least one of the following must be provided: given_name, family_name,"
                " company_name, email_address, phone_number.",
            )
        now = rfc3339()
        customer = {
            "id": square_id(26),
            "created_at": now,
            "updated_at": now,
            "creation_source": "THIRD_PARTY",
            "preferences": {"email_unsubscribed": False},
            "version": 0,
            **{name: body[name] for name in WRITABLE if body.get(name) is not None},
        }
        self.customers[customer["id"]] = customer
        return {"customer": customer}

    def get(self, customer_id: str) -> dict[str, Any]:
        customer = self.customers.get(customer_id)
        if customer is None:
            raise not_found(f"Customer with ID `{customer_id}` not found.")
        return customer

    def update(self, customer_id: str, body: dict[str, Any]) -> dict[str, Any]:
        customer = self.get(customer_id)
        if "version" in body and body["version"] != customer["version"]:
            raise SquareError(
                400,
                "VERSION_MISMATCH",
                f"Customer version mismatch: given {body['version']},"
                f" current {customer['version']}.",
                field="version",
            )
        for name in WRITABLE:
            if name in body:
                if body[name] is None:
                    customer.pop(name, None)
                else:
                    customer[name] = body[name]
        customer["version"] += 1
        customer["updated_at"] = rfc3339()
        return {"customer": customer}

    def bulk_create(
        self, body: dict[str, Any], idempotent: dict[str, Any]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The answer and the customers created by this call (replays are not among them)."""
        responses: dict[str, Any] = {}
        created: list[dict[str, Any]] = []
        for key, data in _bulk_entries(body).items():
            if not key:
                responses[key] = _errors(
                    bad_request("MAP_KEY_LENGTH_TOO_SHORT", "The idempotency key is empty.")
                )
                continue
            slot = f"customers/bulk-create:{key}"
            fingerprint = json.dumps(data, sort_keys=True)
            stored = idempotent.get(slot)
            if stored is not None:
                responses[key] = (
                    copy.deepcopy(stored[1])
                    if stored[0] == fingerprint
                    else _errors(
                        bad_request(
                            "IDEMPOTENCY_KEY_REUSED",
                            "The idempotency key can only be retried with the same request data.",
                        )
                    )
                )
                continue
            try:
                answer = self.create(data)
            except SquareError as error:
                responses[key] = _errors(error)
                continue
            idempotent[slot] = (fingerprint, copy.deepcopy(answer))
            responses[key] = answer
            created.append(answer["customer"])
        return {"responses": responses}, created

    def bulk_update(self, body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The answer and the customers updated by this call."""
        responses: dict[str, Any] = {}
        updated: list[dict[str, Any]] = []
        for customer_id, data in _bulk_entries(body).items():
            try:
                answer = self.update(customer_id, data)
            except SquareError as error:
                responses[customer_id] = _errors(error)
                continue
            responses[customer_id] = answer
            updated.append(answer["customer"])
        return {"responses": responses}, updated

    def list(self, cursor: str | None, limit: int | None) -> dict[str, Any]:
        ordered = sorted(self.customers.values(), key=lambda c: c["created_at"])
        return page(ordered, cursor, _limit(limit), "customers")

    def search(self, body: dict[str, Any]) -> dict[str, Any]:
        query = body.get("query") or {}
        filters = query.get("filter") or {}
        found = [c for c in self.customers.values() if _passes(c, filters)]
        sort = query.get("sort") or {}
        key = "created_at" if sort.get("field") == "CREATED_AT" else "updated_at"
        if sort.get("field") == "DEFAULT" or not sort:
            found.sort(key=lambda c: (c.get("given_name") or "", c.get("family_name") or ""))
        else:
            found.sort(key=lambda c: c[key], reverse=sort.get("order") == "DESC")
        answer = page(found, body.get("cursor"), _limit(body.get("limit")), "customers")
        if body.get("count"):
            answer["count"] = len(found)
        return answer


def _bulk_entries(body: dict[str, Any]) -> dict[str, Any]:
    entries = body.get("customers")
    if not isinstance(entries, dict):
        raise bad_request("EXPECTED_MAP", "Expected `customers` to be a map.", "customers")
    if not entries:
        raise bad_request("BAD_REQUEST", "`customers` must contain at least 1 entry.", "customers")
    if len(entries) > MAX_BULK:
        raise bad_request(
            "TOO_MANY_MAP_ENTRIES",
            f"`customers` must contain at most {MAX_BULK} entries; it contains {len(entries)}.",
            "customers",
        )
    for data in entries.values():
        if not isinstance(data, dict):
            raise bad_request("EXPECTED_OBJECT", "Each entry of `customers` must be an object.")
    return entries


def _errors(error: SquareError) -> dict[str, Any]:
    return {"errors": error.errors}


def _limit(limit: Any) -> int:
    value = int(limit or 100)
    if not 1 <= value <= 100:
        raise bad_request("INVALID_VALUE", "limit must be between 1 and 100.", "limit")
    return value


def _passes(customer: dict[str, Any], filters: dict[str, Any]) -> bool:
    for name in ("email_address", "phone_number", "reference_id"):
        rule = filters.get(name)
        if not rule:
            continue
        value = str(customer.get(name) or "").lower()
        if "exact" in rule and value != str(rule["exact"]).lower():
            return False
        if "fuzzy" in rule and str(rule["fuzzy"]).lower() not in value:
            return False
    for name in ("created_at", "updated_at"):
        span = filters.get(name)
        if not span:
            continue
        at = parse_time(customer[name])
        if span.get("start_at") and at < parse_time(span["start_at"]):
            return False
        if span.get("end_at") and at > parse_time(span["end_at"]):
            return False
    return True


def touch(customer: dict[str, Any]) -> None:
    customer["updated_at"] = rfc3339(time.time())
