"""Pushing one work item's records to a provider as upserts: a record whose content hash equals
the stored one makes no call; a known record updates the object it created; a new one creates it
with an idempotency key derived from its content, so a retry after a lost answer (a killed
worker) gets the first answer back instead of a duplicate.

``PushResult.saved`` is what ``integration_synced_records`` keeps: the provider ids, versions and
hashes of the records written, stored in the transaction that completes the work item.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tickettoken.integrations.providers import (
    Credentials,
    Provider,
    ProviderError,
    SquareProvider,
    StripeProvider,
)
from tickettoken.integrations.providers.square_customers import CustomerWritten
from tickettoken.integrations.sync.mapping import pushed_customer_view, same_content, view_hash

SQUARE_MAX_OBJECTS_PER_BATCH = 1000


@dataclass
class PushResult:
    saved: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (local_id, reason)
    api_calls: int = 0
    notes: list[str] = field(default_factory=list)  # said in the sync log, not failures
    # Written at the provider but failed a later step: ids kept (so a retry updates instead of
    # creating again), counted among the failures, with a hash that makes the next sync retry.
    kept: list[dict[str, Any]] = field(default_factory=list)


def saved_record(
    record: dict[str, Any], remote_id: str, remote_version: str | None, remote_data: dict[str, Any]
) -> dict[str, Any]:
    """What ``save_synced`` stores for one pushed record: its provider id, version and the
    content hash that makes an unchanged record cost no call next time."""
    return {
        "local_id": record["local_id"],
        "remote_id": remote_id,
        "remote_version": remote_version,
        "content_hash": record["content_hash"],
        "remote_data": remote_data,
    }


Known = dict[str, dict[str, Any]]  # local_id -> stored synced record
Pusher = Callable[
    [Provider, Credentials, uuid.UUID, list[dict[str, Any]], Known], Awaitable[PushResult]
]


def _key(*parts: Any) -> str:
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
    return f"tt-sync-{digest[:48]}"


def changed(
    records: list[dict[str, Any]], known: Known, result: PushResult
) -> list[dict[str, Any]]:
    todo = []
    for record in records:
        stored = known.get(record["local_id"])
        if stored is not None and same_content(stored["content_hash"], record):
            result.skipped += 1
        else:
            todo.append(record)
    return todo


# --- Square: events and ticket types as catalog ITEMs with ITEM_VARIATIONs --------------------


def _square_item(record: dict[str, Any], stored: dict[str, Any] | None) -> dict[str, Any]:
    item_id = stored["remote_id"] if stored else f"#e{record['local_id']}"
    known_variations: dict[str, Any] = (stored or {}).get("remote_data", {}).get("variations", {})
    variations = []
    for variation in record["variations"]:
        existing = known_variations.get(variation["local_id"])
        body: dict[str, Any] = {
            "type": "ITEM_VARIATION",
            "id": existing["id"] if existing else f"#v{variation['local_id']}",
            "item_variation_data": {
                "item_id": item_id,
                "name": variation["name"],
                "pricing_type": "FIXED_PRICING",
                "price_money": {
                    "amount": variation["price_cents"],
                    "currency": variation["currency"],
                },
            },
        }
        if existing:
            body["version"] = existing["version"]
        variations.append(body)
    item: dict[str, Any] = {
        "type": "ITEM",
        "id": item_id,
        "item_data": {
            "name": record["name"],
            "description": record["description"] or None,
            "variations": variations,
        },
    }
    if item["item_data"]["description"] is None:
        del item["item_data"]["description"]
    if stored:
        item["version"] = int(stored["remote_version"])
    return item


def _square_batches(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Objects in batches of at most 1,000 (an item counts with its variations)."""
    batches: list[dict[str, Any]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for obj in objects:
        weight = 1 + len(obj["item_data"]["variations"])
        if current and size + weight > SQUARE_MAX_OBJECTS_PER_BATCH:
            batches.append({"objects": current})
            current, size = [], 0
        current.append(obj)
        size += weight
    if current:
        batches.append({"objects": current})
    return batches


async def square_products(
    provider: Provider,
    credentials: Credentials,
    venue_id: uuid.UUID,
    records: list[dict[str, Any]],
    known: Known,
) -> PushResult:
    assert isinstance(provider, SquareProvider)
    result = PushResult()
    todo = changed(records, known, result)
    if not todo:
        return result
    objects = [_square_item(r, known.get(r["local_id"])) for r in todo]
    batches = _square_batches(objects)
    # The key follows the body: a retry of the same batch (a lost answer) replays Square's first
    # answer, with the same ids; any other body is a new request.
    key = _key("square-catalog", str(venue_id), batches)
    result.api_calls += 1
    answer = await provider.catalog_upsert_ids(credentials, batches, idempotency_key=key)
    ids = answer.id_mappings
    for record, obj in zip(todo, objects, strict=True):
        item_id = ids.get(obj["id"], obj["id"])
        version = answer.versions.get(item_id)
        if version is None:
            reason = "; ".join(answer.errors) or "not written by Square"
            result.failed.append((record["local_id"], reason))
            continue
        variations = {}
        for variation, sent in zip(
            record["variations"], obj["item_data"]["variations"], strict=True
        ):
            remote_id = ids.get(sent["id"], sent["id"])
            variations[variation["local_id"]] = {
                "id": remote_id,
                "version": answer.versions.get(remote_id, version),
            }
        kept: dict[str, Any] = {"variations": variations}
        if answer.updated_at:  # the catalog version this write made: its webhook is our echo
            kept["catalog_updated_at"] = answer.updated_at
        result.saved.append(saved_record(record, item_id, str(version), kept))
    return result


# --- Stripe: events as products, ticket types as prices (immutable: a change is a new price) --


async def stripe_products(
    provider: Provider,
    credentials: Credentials,
    venue_id: uuid.UUID,
    records: list[dict[str, Any]],
    known: Known,
) -> PushResult:
    assert isinstance(provider, StripeProvider)
    result = PushResult()
    for record in changed(records, known, result):
        try:
            result.saved.append(
                await _stripe_product(provider, credentials, venue_id, record, known, result)
            )
        except ProviderError as exc:
            if exc.retryable:
                raise
            result.failed.append((record["local_id"], str(exc)))
    return result


async def _stripe_product(
    provider: StripeProvider,
    credentials: Credentials,
    venue_id: uuid.UUID,
    record: dict[str, Any],
    known: Known,
    result: PushResult,
) -> dict[str, Any]:
    stored = known.get(record["local_id"])
    data: dict[str, Any] = dict((stored or {}).get("remote_data") or {})
    prices: dict[str, Any] = dict(data.get("prices") or {})
    fields = {"name": record["name"], "description": record["description"] or None}
    fields_hash = _key(fields)
    metadata = {"tickettoken_event_id": record["local_id"], "tickettoken_venue_id": str(venue_id)}
    if stored is None:
        result.api_calls += 1
        product = await provider.create_product(
            credentials,
            {**{k: v for k, v in fields.items() if v}, "metadata": metadata},
            idempotency_key=_key("stripe-product", str(venue_id), record["local_id"]),
        )
        product_id = product.id
    else:
        product_id = stored["remote_id"]
        if data.get("fields_hash") != fields_hash:
            result.api_calls += 1
            await provider.update_product(
                credentials,
                product_id,
                {"name": record["name"], "description": record["description"] or ""},
            )
    for variation in record["variations"]:
        current = prices.get(variation["local_id"])
        wanted = (variation["price_cents"], variation["currency"].lower())
        if current and (current["amount"], current["currency"]) == wanted:
            continue
        result.api_calls += 1
        price = await provider.create_price(
            credentials,
            {
                "product": product_id,
                "unit_amount": wanted[0],
                "currency": wanted[1],
                "nickname": variation["name"],
                "metadata": {"tickettoken_ticket_type_id": variation["local_id"]},
            },
            idempotency_key=_key(
                "stripe-price", variation["local_id"], wanted, current and current["id"]
            ),
        )
        if current:
            # Prices are immutable: the old one is archived, the new one takes its place.
            result.api_calls += 1
            await _archive_price(provider, credentials, str(current["id"]))
        prices[variation["local_id"]] = {"id": price.id, "amount": wanted[0], "currency": wanted[1]}
    return saved_record(record, product_id, None, {"prices": prices, "fields_hash": fields_hash})


async def _archive_price(provider: StripeProvider, credentials: Credentials, price_id: str) -> None:
    """``prices.update(active=false)`` (the provider client has no typed call for it)."""

    async def archive(client: Any, options: Any) -> Any:
        return await client.v1.prices.update_async(price_id, {"active": False}, options=options)

    await provider.call(
        "prices.update",
        archive,
        credentials,
        write=True,
        idempotency_key=_key("stripe-archive", price_id),
    )


# --- customers -----------------------------------------------------------------------------


async def _one_by_one(
    records: list[dict[str, Any]],
    known: Known,
    write: Callable[[dict[str, Any], dict[str, Any] | None], Awaitable[tuple[str, str | None]]],
    provider_name: str,
) -> PushResult:
    """Providers without a batch endpoint for the type: one upsert per changed record; a
    refusal fails that record, a retryable failure the whole item (retried with backoff)."""
    result = PushResult()
    for record in changed(records, known, result):
        stored = known.get(record["local_id"])
        try:
            result.api_calls += 1
            remote_id, version = await write(record, stored)
        except ProviderError as exc:
            if exc.retryable:
                raise
            result.failed.append((record["local_id"], str(exc)))
            continue
        result.saved.append(
            saved_record(
                record,
                remote_id,
                version,
                {"remote_hash": view_hash(pushed_customer_view(provider_name, record))},
            )
        )
    return result


SQUARE_MAX_CUSTOMERS_PER_BULK = 100


def _square_customer_fields(record: dict[str, Any]) -> dict[str, Any]:
    fields = {
        "given_name": record["given_name"],
        "family_name": record["family_name"],
        "email_address": record["email"],
        "phone_number": record["phone"],
        "reference_id": record["local_id"],
    }
    return {k: v for k, v in fields.items() if v}


async def square_customers(
    provider: Provider,
    credentials: Credentials,
    venue_id: uuid.UUID,
    records: list[dict[str, Any]],
    known: Known,
) -> PushResult:
    """Bulk create (keyed by each record's content idempotency key) and bulk update (keyed by
    Square id, with the stored version), 100 a call; an entry's errors fail that record only."""
    assert isinstance(provider, SquareProvider)
    result = PushResult()
    creates: dict[str, dict[str, Any]] = {}  # idempotency key -> record
    updates: dict[str, dict[str, Any]] = {}  # Square customer id -> record
    for record in changed(records, known, result):
        stored = known.get(record["local_id"])
        if stored is None:
            key = _key("square-customer", str(venue_id), record["local_id"], record["content_hash"])
            creates[key] = record
        else:
            updates[stored["remote_id"]] = record
    for chunk in _chunks(creates):
        result.api_calls += 1
        entries = {key: _square_customer_fields(record) for key, record in chunk.items()}
        answers = await provider.bulk_create_customers(credentials, entries)
        _square_bulk_results(chunk, answers, result)
    for chunk in _chunks(updates):
        entries = {}
        for customer_id, record in chunk.items():
            fields = _square_customer_fields(record)
            version = known[record["local_id"]]["remote_version"]
            if version:
                fields["version"] = int(version)
            entries[customer_id] = fields
        result.api_calls += 1
        answers = await provider.bulk_update_customers(credentials, entries)
        _square_bulk_results(chunk, answers, result)
    return result


def _chunks(entries: dict[str, dict[str, Any]]) -> list[dict[str, dict[str, Any]]]:
    items = list(entries.items())
    return [
        dict(items[start : start + SQUARE_MAX_CUSTOMERS_PER_BULK])
        for start in range(0, len(items), SQUARE_MAX_CUSTOMERS_PER_BULK)
    ]


def _square_bulk_results(
    chunk: dict[str, dict[str, Any]], answers: dict[str, CustomerWritten], result: PushResult
) -> None:
    for key, record in chunk.items():
        answer = answers.get(key)
        if answer is None or not answer.id:
            errors = answer.errors if answer else []
            reason = "; ".join(f"{code}: {detail}" for code, detail in errors)
            result.failed.append((record["local_id"], reason or "no answer from Square"))
            continue
        version = str(answer.version) if answer.version is not None else None
        result.saved.append(
            saved_record(
                record,
                answer.id,
                version,
                {"remote_hash": view_hash(pushed_customer_view("square", record))},
            )
        )


async def stripe_customers(
    provider: Provider,
    credentials: Credentials,
    venue_id: uuid.UUID,
    records: list[dict[str, Any]],
    known: Known,
) -> PushResult:
    assert isinstance(provider, StripeProvider)

    async def write(
        record: dict[str, Any], stored: dict[str, Any] | None
    ) -> tuple[str, str | None]:
        name = " ".join(p for p in (record["given_name"], record["family_name"]) if p)
        params: dict[str, Any] = {"email": record["email"]}
        if name:
            params["name"] = name
        if record["phone"]:
            params["phone"] = record["phone"]
        params["metadata"] = {"tickettoken_customer_id": record["local_id"]}
        if stored is None:
            key = _key("stripe-customer", str(venue_id), record["local_id"], record["content_hash"])
            customer = await provider.create_customer(credentials, params, idempotency_key=key)
        else:
            customer = await provider.update_customer(credentials, stored["remote_id"], params)
        return customer.id, None

    return await _one_by_one(records, known, write, "stripe")


MAILCHIMP_MAX_MEMBERS = 500
# The account's first audience per venue and token, kept AUDIENCE_SECONDS: each of a sync's items
# asked for it again (one call more per 500 members, half of a Mailchimp sync's calls). The lanes
# that start together share one lookup (the task is what is kept).
AUDIENCE_SECONDS = 30.0
_AUDIENCES: dict[str, tuple[float, asyncio.Task[str | None]]] = {}


def _audience_key(credentials: Credentials, venue_id: uuid.UUID) -> str:
    token = hashlib.sha256((credentials.access_token or "").encode()).hexdigest()
    return f"{id(asyncio.get_running_loop())}:{venue_id}:{token}"  # a task is its loop's


async def _audience(
    provider: Any, credentials: Credentials, venue_id: uuid.UUID, result: PushResult
) -> str | None:
    key = _audience_key(credentials, venue_id)
    now = time.monotonic()
    cached = _AUDIENCES.get(key)
    if cached is None or now - cached[0] >= AUDIENCE_SECONDS:

        async def first_audience() -> str | None:
            audiences = await provider.lists(credentials, count=1)
            return str(audiences[0]["id"]) if audiences else None

        if len(_AUDIENCES) > 1000:
            _AUDIENCES.clear()
        cached = (now, asyncio.ensure_future(first_audience()))
        _AUDIENCES[key] = cached
        result.api_calls += 1
    try:
        list_id = await asyncio.shield(cached[1])
    except Exception:
        _AUDIENCES.pop(key, None)
        raise
    if list_id is None:
        _AUDIENCES.pop(key, None)
    return list_id


async def mailchimp_customers(
    provider: Provider,
    credentials: Credentials,
    venue_id: uuid.UUID,
    records: list[dict[str, Any]],
    known: Known,
) -> PushResult:
    """Batch subscribe (<= 500 a call, ``update_existing``: an upsert by email) of the customers
    who gave marketing consent; a customer synced before who withdrew it is sent as
    ``unsubscribed``; the others are never sent (counted as skipped)."""
    from tickettoken.integrations.providers import MailchimpProvider
    from tickettoken.integrations.providers.mailchimp import member_hash

    assert isinstance(provider, MailchimpProvider)
    result = PushResult()
    sending = []
    for record in changed(records, known, result):
        if record["email"] and (record["marketing_consent"] or record["local_id"] in known):
            sending.append(record)
        else:
            result.skipped += 1
    if not sending:
        return result
    list_id = await _audience(provider, credentials, venue_id, result)
    if list_id is None:
        result.failed += [(r["local_id"], "the Mailchimp account has no audience") for r in sending]
        return result
    for start in range(0, len(sending), MAILCHIMP_MAX_MEMBERS):
        chunk = sending[start : start + MAILCHIMP_MAX_MEMBERS]
        members = [
            {
                "email_address": r["email"],
                "status": "subscribed" if r["marketing_consent"] else "unsubscribed",
                "merge_fields": {"FNAME": r["given_name"] or "", "LNAME": r["family_name"] or ""},
            }
            for r in chunk
        ]
        result.api_calls += 1
        try:
            answer = await provider.batch_subscribe(
                credentials, list_id, members, update_existing=True
            )
        except ProviderError as exc:
            if exc.status == 404:  # the audience is gone: ask again next time
                _AUDIENCES.pop(_audience_key(credentials, venue_id), None)
            raise
        refused = {
            str(e.get("email_address", "")).lower(): str(e.get("error", "refused"))
            for e in answer.get("errors") or []
        }
        for record in chunk:
            email = str(record["email"]).lower()
            if email in refused:
                result.failed.append((record["local_id"], refused[email]))
            else:
                result.saved.append(
                    saved_record(
                        record,
                        member_hash(email),
                        None,
                        {
                            "list_id": list_id,
                            "remote_hash": view_hash(pushed_customer_view("mailchimp", record)),
                        },
                    )
                )
    return result
