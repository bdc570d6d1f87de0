"""Square's Catalog API: batch upsert with ``#client`` ids, list, search, batch retrieve.

Square's rules kept here: new objects carry client ids starting with ``#`` and get real ids
reported in ``id_mappings`` (references to a client id elsewhere in the request are rewritten
too, e.g. a variation's ``item_id``); at most 1,000 objects per batch and 10,000 per request
(nested variations count); an invalid object fails its whole batch while other batches may
still succeed; updating an existing object needs its current ``version`` or the batch fails
with ``VERSION_MISMATCH``. Every write bumps ``version`` (a millisecond timestamp).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from tickettoken.sandbox.square.errors import INVALID, SquareError, bad_request, error_object
from tickettoken.sandbox.square.state import Seller, page, parse_time, rfc3339, square_id

MAX_PER_BATCH = 1000
MAX_PER_REQUEST = 10000
PAGE = 100
TYPES = {
    "ITEM",
    "ITEM_VARIATION",
    "CATEGORY",
    "TAX",
    "DISCOUNT",
    "MODIFIER",
    "MODIFIER_LIST",
    "IMAGE",
}


def _with_children(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield obj
    for child in (obj.get("item_data") or {}).get("variations") or []:
        if isinstance(child, dict):
            yield child


def _rewrite(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return ids.get(value, value)
    if isinstance(value, list):
        return [_rewrite(item, ids) for item in value]
    if isinstance(value, dict):
        return {key: _rewrite(item, ids) for key, item in value.items()}
    return value


class Catalog:
    def __init__(self, seller: Seller) -> None:
        self.seller = seller
        self.objects = seller.catalog

    def batch_upsert(self, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("idempotency_key"):
            raise bad_request("MISSING_REQUIRED_PARAMETER", "Field must be set", "idempotency_key")
        batches = body.get("batches")
        if not isinstance(batches, list) or not batches:
            raise bad_request("MISSING_REQUIRED_PARAMETER", "Field must be set", "batches")
        total = sum(
            len(list(_with_children(obj)))
            for batch in batches
            for obj in (batch or {}).get("objects") or []
        )
        if total > MAX_PER_REQUEST:
            raise bad_request(
                "INVALID_VALUE",
                f"Too many objects in request: {total}; the maximum is {MAX_PER_REQUEST}.",
                "batches",
            )
        mappings: list[dict[str, str]] = []
        written: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        now = time.time()
        for index, batch in enumerate(batches):
            objects = (batch or {}).get("objects") or []
            try:
                done, new_ids = self._apply_batch(index, objects, now)
            except SquareError as error:
                errors.extend(error.errors)
                continue
            written.extend(done)
            mappings.extend({"client_object_id": c, "object_id": r} for c, r in new_ids.items())
        if errors and not written:
            raise _many(errors)
        answer: dict[str, Any] = {"objects": written, "updated_at": rfc3339(now)}
        if mappings:
            answer["id_mappings"] = mappings
        if errors:
            answer["errors"] = errors
        return answer

    def _apply_batch(
        self, index: int, objects: list[Any], now: float
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        where = f"batches[{index}]"
        flat = [obj for top in objects for obj in _with_children(top)]
        if len(flat) > MAX_PER_BATCH:
            raise bad_request(
                "INVALID_VALUE",
                f"Too many objects in batch: {len(flat)}; the maximum is {MAX_PER_BATCH}.",
                where,
            )
        new_ids: dict[str, str] = {}
        for obj in flat:
            self._check(obj, where, new_ids)
        version = int(now * 1000)
        at = rfc3339(now)
        stamped = [self._stamp(_rewrite(top, new_ids), version, at) for top in objects]
        for top in stamped:
            for obj in _with_children(top):
                self.objects[obj["id"]] = obj
        return stamped, new_ids

    def _check(self, obj: Any, where: str, new_ids: dict[str, str]) -> None:
        if not isinstance(obj, dict) or obj.get("type") not in TYPES:
            raise bad_request("INVALID_VALUE", "Unknown or missing object type.", f"{where}.type")
        object_id = str(obj.get("id") or "")
        if object_id.startswith("#"):
            if object_id in new_ids:
                raise bad_request("INVALID_VALUE", f"Duplicate object id `{object_id}`.", where)
            new_ids[object_id] = square_id()
            return
        existing = self.objects.get(object_id)
        if existing is None or existing.get("is_deleted"):
            raise SquareError(
                400,
                "INVALID_VALUE",
                f"Object `{object_id}` not found; new objects need a client id starting with #.",
                field=f"{where}.id",
            )
        if obj.get("version") != existing["version"]:
            raise SquareError(
                400,
                "VERSION_MISMATCH",
                f"Object version does not match for object: {object_id}",
                field=f"{where}.version",
            )

    def _stamp(self, obj: dict[str, Any], version: int, now: float | str) -> dict[str, Any]:
        at = now if isinstance(now, str) else rfc3339(now)
        obj = {**obj, "version": version, "updated_at": at, "is_deleted": False}
        obj.setdefault("present_at_all_locations", True)
        data = obj.get("item_data")
        if isinstance(data, dict) and isinstance(data.get("variations"), list):
            variations = [self._stamp(v, version, at) for v in data["variations"]]
            for variation in variations:
                variation.setdefault("item_variation_data", {})["item_id"] = obj["id"]
            obj["item_data"] = {**data, "variations": variations}
        return obj

    def list(self, types: str | None, cursor: str | None) -> dict[str, Any]:
        wanted = {t.strip().upper() for t in types.split(",")} if types else None
        found = [
            obj
            for obj in self.objects.values()
            if not obj.get("is_deleted")
            and (wanted is None or obj["type"] in wanted)
            # Variations come inside their item unless asked for by type.
            and not (_is_nested(obj) and (wanted is None or "ITEM_VARIATION" not in wanted))
        ]
        return page(found, cursor, PAGE, "objects")

    def search(self, body: dict[str, Any]) -> dict[str, Any]:
        limit = int(body.get("limit") or 100)
        if not 1 <= limit <= 1000:
            raise bad_request("INVALID_VALUE", "limit must be between 1 and 1000.", "limit")
        wanted = set(body.get("object_types") or [])
        since = parse_time(body["begin_time"]) if body.get("begin_time") else None
        query = body.get("query") or {}
        found = [
            obj
            for obj in self.objects.values()
            if (body.get("include_deleted_objects") or not obj.get("is_deleted"))
            and (not wanted or obj["type"] in wanted)
            and (since is None or parse_time(obj["updated_at"]) > since)
            and _matches(obj, query)
        ]
        answer = page(found, body.get("cursor"), limit, "objects")
        answer["latest_time"] = rfc3339()
        return answer

    def batch_retrieve(self, body: dict[str, Any]) -> dict[str, Any]:
        ids = body.get("object_ids")
        if not isinstance(ids, list) or not ids:
            raise bad_request("MISSING_REQUIRED_PARAMETER", "Field must be set", "object_ids")
        found = [self.objects[i] for i in ids if i in self.objects]
        answer: dict[str, Any] = {"objects": found}
        if body.get("include_related_objects"):
            related_ids = {
                ref
                for obj in found
                for ref in [
                    (obj.get("item_data") or {}).get("category_id"),
                    *((obj.get("item_data") or {}).get("tax_ids") or []),
                ]
                if ref
            }
            answer["related_objects"] = [self.objects[i] for i in related_ids if i in self.objects]
        return answer


def _is_nested(obj: dict[str, Any]) -> bool:
    return obj["type"] == "ITEM_VARIATION" and bool(
        (obj.get("item_variation_data") or {}).get("item_id")
    )


def _name(obj: dict[str, Any]) -> str:
    for key, data in obj.items():
        if key.endswith("_data") and isinstance(data, dict) and isinstance(data.get("name"), str):
            return str(data["name"])
    return ""


def _matches(obj: dict[str, Any], query: dict[str, Any]) -> bool:
    if "exact_query" in query:
        exact = query["exact_query"]
        value = _name(obj) if exact.get("attribute_name") == "name" else _attribute(obj, exact)
        return bool(value == exact.get("attribute_value"))
    if "prefix_query" in query:
        prefix = query["prefix_query"]
        return _name(obj).lower().startswith(str(prefix.get("attribute_prefix", "")).lower())
    if "text_query" in query:
        words = [str(k).lower() for k in query["text_query"].get("keywords") or []]
        name = _name(obj).lower()
        return all(word in name for word in words)
    return True


def _attribute(obj: dict[str, Any], exact: dict[str, Any]) -> Any:
    name = exact.get("attribute_name")
    for key, data in obj.items():
        if key.endswith("_data") and isinstance(data, dict) and name in data:
            return data[name]
    return None


def _many(errors: list[dict[str, Any]]) -> SquareError:
    first = errors[0]
    error = SquareError(
        400, first["code"], first["detail"], category=first.get("category", INVALID)
    )
    error.errors = errors or [error_object(INVALID, "BAD_REQUEST", "Invalid request.")]
    return error
