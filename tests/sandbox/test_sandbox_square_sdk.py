"""Square's official SDK (``squareup``, async) against the Square sandbox over real HTTP.

Covers: the browser-less OAuth flow (approve, deny, code reuse, refresh keeps the refresh token,
revoke), ``merchants.get("me")`` and locations, catalog batch upsert with ``#`` id mappings,
version conflicts and limits, list/search/batch-retrieve, customers create/update/search with
version conflicts, orders/payments/inventory, Square's error shape on 401/404/405, 429
``RATE_LIMITED`` and webhook signatures checked with the SDK's own verifier.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from square import AsyncSquare
from square.core.api_error import ApiError
from square.utils.webhooks_helper import verify_signature
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tests.sandbox.sandbox_threaded import serve_in_thread

from tickettoken.sandbox.app import create_sandbox_app

KEY = "sk_test_sandbox"
CONTROL = {"Authorization": f"Bearer {KEY}"}
REDIRECT = "https://venue.example/integrations/square/callback"
NO_RETRY: Any = {"max_retries": 0}
RELAXED = {"per_second": 1000}
SCOPES = (
    "MERCHANT_PROFILE_READ ITEMS_READ ITEMS_WRITE CUSTOMERS_READ CUSTOMERS_WRITE ORDERS_READ"
    " ORDERS_WRITE PAYMENTS_READ PAYMENTS_WRITE INVENTORY_READ INVENTORY_WRITE"
)
pytestmark = pytest.mark.filterwarnings("ignore:.*__fields__.*:DeprecationWarning")


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    with serve_in_thread(create_sandbox_app(secret_key=KEY)) as url:
        # Back-to-back SDK calls stay clear of the default 10/s; the rate-limit test lowers it.
        httpx.post(f"{url}/square/_sandbox/rate-limit", headers=CONTROL, json=RELAXED)
        yield url


@pytest.fixture
async def http(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox_url) as client:
        yield client


async def _app(http: httpx.AsyncClient) -> dict[str, Any]:
    index = (await http.get("/")).json()
    square: dict[str, Any] = index["providers"]["square"]
    return square


async def _authorize(http: httpx.AsyncClient, **extra: str) -> dict[str, list[str]]:
    app = await _app(http)
    answer = await http.get(
        "/square/oauth2/authorize",
        params={
            "client_id": app["application_id"],
            "scope": SCOPES,
            "state": "st-1",
            "redirect_uri": REDIRECT,
            **extra,
        },
    )
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(REDIRECT)
    return parse_qs(urlsplit(location).query)


async def _connect(http: httpx.AsyncClient, **extra: str) -> tuple[AsyncSquare, Any]:
    """A seller connected through OAuth; an SDK client holding its access token."""
    app = await _app(http)
    code = (await _authorize(http, **extra))["code"][0]
    anonymous = AsyncSquare(base_url=app["api_base_url"], token="none")
    token = await anonymous.o_auth.obtain_token(
        client_id=app["application_id"],
        client_secret=app["application_secret"],
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
    )
    return AsyncSquare(base_url=app["api_base_url"], token=token.access_token), token


async def test_oauth_flow_with_refresh_and_revoke(http: httpx.AsyncClient) -> None:
    app = await _app(http)
    query = await _authorize(http)
    assert query["state"] == ["st-1"] and query["response_type"] == ["code"]
    denied = await _authorize(http, deny="1")
    assert denied["error"] == ["access_denied"] and "code" not in denied
    sdk = AsyncSquare(base_url=app["api_base_url"], token="none")
    first = await sdk.o_auth.obtain_token(
        client_id=app["application_id"],
        client_secret=app["application_secret"],
        grant_type="authorization_code",
        code=query["code"][0],
        redirect_uri=REDIRECT,
    )
    assert first.token_type == "bearer" and first.merchant_id and first.refresh_token
    assert first.expires_at and first.expires_at[:4].isdigit()
    with pytest.raises(ApiError) as reused:
        await sdk.o_auth.obtain_token(
            client_id=app["application_id"],
            client_secret=app["application_secret"],
            grant_type="authorization_code",
            code=query["code"][0],
            request_options=NO_RETRY,
        )
    assert reused.value.status_code == 401
    assert reused.value.errors[0].category == "AUTHENTICATION_ERROR"
    with pytest.raises(ApiError) as wrong_secret:
        await sdk.o_auth.obtain_token(
            client_id=app["application_id"],
            client_secret="nope",
            grant_type="refresh_token",
            refresh_token=first.refresh_token,
            request_options=NO_RETRY,
        )
    assert wrong_secret.value.status_code == 401
    await http.post(
        "/square/_sandbox/expire", headers=CONTROL, json={"access_token": first.access_token}
    )
    expired_client = AsyncSquare(base_url=app["api_base_url"], token=first.access_token)
    with pytest.raises(ApiError) as expired:
        await expired_client.locations.list(request_options=NO_RETRY)
    assert expired.value.status_code == 401
    assert expired.value.errors[0].code == "ACCESS_TOKEN_EXPIRED"
    renewed = await sdk.o_auth.obtain_token(
        client_id=app["application_id"],
        client_secret=app["application_secret"],
        grant_type="refresh_token",
        refresh_token=first.refresh_token,
    )
    assert renewed.refresh_token == first.refresh_token  # code flow: the same refresh token
    assert renewed.access_token != first.access_token
    seller = AsyncSquare(base_url=app["api_base_url"], token=renewed.access_token)
    assert (await seller.merchants.get("me")).merchant.id == first.merchant_id
    revoked = await sdk.o_auth.revoke_token(
        client_id=app["application_id"],
        access_token=renewed.access_token,
        request_options={
            "additional_headers": {"Authorization": f"Client {app['application_secret']}"}
        },
    )
    assert revoked.success is True
    with pytest.raises(ApiError) as after:
        await seller.merchants.get("me", request_options=NO_RETRY)
    assert after.value.errors[0].code == "ACCESS_TOKEN_REVOKED"


async def test_merchant_locations_and_error_shapes(http: httpx.AsyncClient) -> None:
    sdk, token = await _connect(http)
    merchant = (await sdk.merchants.get("me")).merchant
    assert merchant.id == token.merchant_id and merchant.status == "ACTIVE"
    locations = (await sdk.locations.list()).locations or []
    assert [loc.id for loc in locations] == [merchant.main_location_id]
    app = await _app(http)
    stranger = AsyncSquare(base_url=app["api_base_url"], token="EAAAnot-a-token")
    with pytest.raises(ApiError) as unauthorized:
        await stranger.merchants.get("me", request_options=NO_RETRY)
    assert unauthorized.value.status_code == 401
    assert unauthorized.value.errors[0].code == "UNAUTHORIZED"
    unknown = await http.get("/square/v2/no-such-thing")
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0] == {
        "category": "INVALID_REQUEST_ERROR",
        "code": "NOT_FOUND",
        "detail": "API endpoint for URL path `/v2/no-such-thing` and HTTP method `GET`"
        " is not found.",
    }
    wrong_method = await http.delete("/square/v2/customers")
    assert wrong_method.status_code == 405 and wrong_method.json()["errors"][0]["code"]
    bad_version = await http.get(
        "/square/v2/locations",
        headers={"Authorization": f"Bearer {token.access_token}", "Square-Version": "latest"},
    )
    assert bad_version.status_code == 400
    assert bad_version.json()["errors"][0]["code"] == "INVALID_SQUARE_VERSION_FORMAT"


async def test_catalog_upsert_mappings_versions_and_limits(http: httpx.AsyncClient) -> None:
    sdk, token = await _connect(http)
    upserted = await sdk.catalog.batch_upsert(
        idempotency_key="catalog-1",
        batches=[
            {
                "objects": [
                    {
                        "type": "ITEM",
                        "id": "#concert",
                        "item_data": {
                            "name": "Concert ticket",
                            "variations": [
                                {
                                    "type": "ITEM_VARIATION",
                                    "id": "#ga",
                                    "item_variation_data": {
                                        "item_id": "#concert",
                                        "name": "GA",
                                        "pricing_type": "FIXED_PRICING",
                                        "price_money": {"amount": 2500, "currency": "USD"},
                                    },
                                }
                            ],
                        },
                    }
                ]
            }
        ],
    )
    mapping = {m.client_object_id: m.object_id for m in upserted.id_mappings or []}
    assert set(mapping) == {"#concert", "#ga"} and all(
        not v.startswith("#") for v in mapping.values()
    )
    item = (upserted.objects or [])[0]
    assert item.id == mapping["#concert"] and item.version
    variation = item.item_data.variations[0]  # type: ignore[union-attr]
    assert variation.item_variation_data.item_id == item.id  # type: ignore[union-attr]
    replay = await sdk.catalog.batch_upsert(
        idempotency_key="catalog-1",
        batches=[
            {
                "objects": [
                    {
                        "type": "ITEM",
                        "id": "#concert",
                        "item_data": {
                            "name": "Concert ticket",
                            "variations": [
                                {
                                    "type": "ITEM_VARIATION",
                                    "id": "#ga",
                                    "item_variation_data": {
                                        "item_id": "#concert",
                                        "name": "GA",
                                        "pricing_type": "FIXED_PRICING",
                                        "price_money": {"amount": 2500, "currency": "USD"},
                                    },
                                }
                            ],
                        },
                    }
                ]
            }
        ],
    )
    assert replay.objects and replay.objects[0].id == item.id  # same key: same answer
    renamed = await sdk.catalog.batch_upsert(
        idempotency_key="catalog-2",
        batches=[
            {
                "objects": [
                    {
                        "type": "ITEM",
                        "id": item.id,
                        "version": item.version,
                        "item_data": {"name": "Concert ticket (VIP)"},
                    }
                ]
            }
        ],
    )
    assert renamed.objects and renamed.objects[0].version != item.version
    with pytest.raises(ApiError) as stale:
        await sdk.catalog.batch_upsert(
            idempotency_key="catalog-3",
            batches=[
                {
                    "objects": [
                        {
                            "type": "ITEM",
                            "id": item.id,
                            "version": item.version,
                            "item_data": {"name": "Lost update"},
                        }
                    ]
                }
            ],
            request_options=NO_RETRY,
        )
    assert stale.value.status_code == 400 and stale.value.errors[0].code == "VERSION_MISMATCH"
    too_big = [
        {"type": "CATEGORY", "id": f"#c{i}", "category_data": {"name": f"c{i}"}}
        for i in range(1001)
    ]
    # Raw HTTP here: the SDK itself spends seconds encoding 1,001 objects on the client side.
    over = await http.post(
        "/square/v2/catalog/batch-upsert",
        headers={"Authorization": f"Bearer {token.access_token}"},
        json={"idempotency_key": "catalog-4", "batches": [{"objects": too_big}]},
    )
    assert over.status_code == 400 and over.json()["errors"][0]["field"] == "batches[0]"
    categories = [
        {"type": "CATEGORY", "id": f"#k{i}", "category_data": {"name": f"Cat {i}"}}
        for i in range(150)
    ]
    await sdk.catalog.batch_upsert(idempotency_key="catalog-5", batches=[{"objects": categories}])
    pager = await sdk.catalog.list(types="CATEGORY")
    listed = [obj async for obj in pager]
    assert len(listed) == 150  # two pages of 100 followed through the cursor
    found = await sdk.catalog.search(
        object_types=["ITEM"],
        query={
            "exact_query": {"attribute_name": "name", "attribute_value": "Concert ticket (VIP)"}
        },
    )
    assert [obj.id for obj in found.objects or []] == [item.id]
    retrieved = await sdk.catalog.batch_get(object_ids=[item.id, "NOPE"])
    assert [obj.id for obj in retrieved.objects or []] == [item.id]


async def test_catalog_batches_fail_alone_and_requests_cap_at_10000(
    http: httpx.AsyncClient,
) -> None:
    sdk, token = await _connect(http)
    first = await sdk.catalog.batch_upsert(
        idempotency_key="b-1",
        batches=[{"objects": [{"type": "CATEGORY", "id": "#a", "category_data": {"name": "A"}}]}],
    )
    category = (first.objects or [])[0]
    partial = await sdk.catalog.batch_upsert(
        idempotency_key="b-2",
        batches=[
            {"objects": [{"type": "CATEGORY", "id": "#b", "category_data": {"name": "B"}}]},
            {
                "objects": [
                    {
                        "type": "CATEGORY",
                        "id": category.id,
                        "version": 1,
                        "category_data": {"name": "stale"},
                    }
                ]
            },
        ],
    )
    # The stale batch is disregarded; the other batch of the same request is written.
    assert [o.category_data.name for o in partial.objects or []] == ["B"]  # type: ignore[union-attr]
    assert [e.code for e in partial.errors or []] == ["VERSION_MISMATCH"]
    names = {
        o.id: o.category_data.name
        for o in (
            await sdk.catalog.batch_get(  # type: ignore[union-attr]
                object_ids=[category.id]
            )
        ).objects
        or []
    }
    assert names == {category.id: "A"}
    objects = [
        {"type": "CATEGORY", "id": f"#n{i}", "category_data": {"name": f"n{i}"}}
        for i in range(10001)
    ]
    over = await http.post(
        "/square/v2/catalog/batch-upsert",
        headers={"Authorization": f"Bearer {token.access_token}"},
        json={
            "idempotency_key": "b-3",
            "batches": [{"objects": objects[i : i + 1000]} for i in range(0, 10001, 1000)],
        },
    )
    assert over.status_code == 400
    assert over.json()["errors"][0]["category"] == "INVALID_REQUEST_ERROR"
    reused = await http.post(
        "/square/v2/catalog/batch-upsert",
        headers={"Authorization": f"Bearer {token.access_token}"},
        json={
            "idempotency_key": "b-1",
            "batches": [
                {"objects": [{"type": "CATEGORY", "id": "#z", "category_data": {"name": "other"}}]}
            ],
        },
    )
    assert reused.status_code == 400
    assert reused.json()["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"


async def test_customers_orders_payments_inventory(http: httpx.AsyncClient) -> None:
    sdk, _ = await _connect(http)
    created = (
        await sdk.customers.create(
            idempotency_key="cust-1",
            given_name="Ada",
            family_name="Lovelace",
            email_address="ada@example.com",
            reference_id="user-1",
        )
    ).customer
    assert created is not None and created.version == 0
    await sdk.customers.create(given_name="Grace", email_address="grace@example.com")
    found = await sdk.customers.search(
        query={"filter": {"email_address": {"exact": "ADA@example.com"}}}, count=True
    )
    assert [c.id for c in found.customers or []] == [created.id] and found.count == 1
    fuzzy = await sdk.customers.search(query={"filter": {"email_address": {"fuzzy": "example"}}})
    assert len(fuzzy.customers or []) == 2
    updated = (await sdk.customers.update(created.id, note="VIP", version=0)).customer  # type: ignore[arg-type]
    assert updated is not None and updated.version == 1
    with pytest.raises(ApiError) as stale:
        await sdk.customers.update(created.id, note="late", version=0, request_options=NO_RETRY)  # type: ignore[arg-type]
    assert stale.value.errors[0].code == "VERSION_MISMATCH"
    with pytest.raises(ApiError) as empty:
        await sdk.customers.create(note="nobody", request_options=NO_RETRY)
    assert empty.value.status_code == 400
    location = (await sdk.locations.list()).locations[0].id  # type: ignore[index]
    order = (
        await sdk.orders.create(
            idempotency_key="o-1",
            order={
                "location_id": location,
                "customer_id": created.id,
                "line_items": [
                    {
                        "name": "GA",
                        "quantity": "2",
                        "base_price_money": {"amount": 2500, "currency": "USD"},
                    }
                ],
            },
        )
    ).order
    assert order is not None and order.total_money.amount == 5000  # type: ignore[union-attr]
    orders = await sdk.orders.search(
        location_ids=[location],
        query={"filter": {"customer_filter": {"customer_ids": [created.id]}}},
    )
    assert [o.id for o in orders.orders or []] == [order.id]
    payment = (
        await sdk.payments.create(
            source_id="cnon:card-nonce-ok",
            idempotency_key="p-1",
            order_id=order.id,
            amount_money={"amount": 5000, "currency": "USD"},
        )
    ).payment
    assert payment is not None and payment.status == "COMPLETED"
    listed = [p.id async for p in await sdk.payments.list()]
    assert listed == [payment.id]
    with pytest.raises(ApiError) as declined:
        await sdk.payments.create(
            source_id="cnon:card-nonce-declined",
            idempotency_key="p-2",
            amount_money={"amount": 100, "currency": "USD"},
            request_options=NO_RETRY,
        )
    assert declined.value.errors[0].category == "PAYMENT_METHOD_ERROR"
    item = await sdk.catalog.batch_upsert(
        idempotency_key="inv",
        batches=[
            {
                "objects": [
                    {
                        "type": "ITEM",
                        "id": "#i",
                        "item_data": {
                            "name": "Tee",
                            "variations": [
                                {
                                    "type": "ITEM_VARIATION",
                                    "id": "#v",
                                    "item_variation_data": {"name": "M"},
                                }
                            ],
                        },
                    }
                ]
            }
        ],
    )
    variation_id = {m.client_object_id: m.object_id for m in item.id_mappings or []}["#v"]
    changed = await sdk.inventory.batch_create_changes(
        idempotency_key="inv-1",
        changes=[
            {
                "type": "PHYSICAL_COUNT",
                "physical_count": {
                    "catalog_object_id": variation_id,
                    "location_id": location,
                    "state": "IN_STOCK",
                    "quantity": "10",
                    "occurred_at": "2026-11-27T10:00:00Z",
                },
            },
            {
                "type": "ADJUSTMENT",
                "adjustment": {
                    "catalog_object_id": variation_id,
                    "location_id": location,
                    "from_state": "IN_STOCK",
                    "to_state": "SOLD",
                    "quantity": "3",
                    "occurred_at": "2026-11-27T10:01:00Z",
                },
            },
        ],
    )
    counts = {c.state: c.quantity for c in changed.counts or []}
    assert counts == {"IN_STOCK": "7", "SOLD": "3"}


async def test_rate_limit_answers_rate_limited(http: httpx.AsyncClient) -> None:
    sdk, _ = await _connect(http)
    await http.post("/square/_sandbox/rate-limit", headers=CONTROL, json={"per_second": 3})
    try:
        results = await asyncio.gather(
            *(sdk.locations.list(request_options=NO_RETRY) for _ in range(6)),
            return_exceptions=True,
        )
    finally:
        await http.post("/square/_sandbox/rate-limit", headers=CONTROL, json=RELAXED)
    limited = [r for r in results if isinstance(r, ApiError)]
    assert len(limited) == 3
    assert all(r.status_code == 429 and r.errors[0].code == "RATE_LIMITED" for r in limited)
    assert limited[0].errors[0].category == "RATE_LIMIT_ERROR"


async def test_webhooks_are_signed_for_the_sdk_verifier(http: httpx.AsyncClient) -> None:
    received: list[tuple[str, str]] = []

    async def receive(request: Request) -> Response:
        received.append(
            ((await request.body()).decode(), request.headers["x-square-hmacsha256-signature"])
        )
        return Response(status_code=200)

    receiver = Starlette(routes=[Route("/hooks/square", receive, methods=["POST"])])
    with serve_in_thread(receiver) as receiver_url:
        url = f"{receiver_url}/hooks/square"
        await http.post("/square/_sandbox/webhooks", headers=CONTROL, json={"url": url})
        try:
            sdk, _ = await _connect(http)
            customer = (await sdk.customers.create(given_name="Hook")).customer
            await sdk.customers.update(customer.id, note="changed")  # type: ignore[union-attr]
            await sdk.catalog.batch_upsert(
                idempotency_key="hook-cat",
                batches=[
                    {
                        "objects": [
                            {"type": "CATEGORY", "id": "#h", "category_data": {"name": "Hooks"}}
                        ]
                    }
                ],
            )
            await sdk.payments.create(
                source_id="cnon:card-nonce-ok",
                idempotency_key="hook-pay",
                amount_money={"amount": 700, "currency": "USD"},
            )
            deliveries = (await http.get("/square/_sandbox/webhooks", headers=CONTROL)).json()
        finally:
            await http.post("/square/_sandbox/webhooks", headers=CONTROL, json={"url": None})
    assert [d["status"] for d in deliveries["deliveries"]] == [200] * 4
    key = (await _app(http))["webhook_signature_key"]
    kinds = []
    for body, signature in received:
        assert verify_signature(
            request_body=body, signature_header=signature, signature_key=key, notification_url=url
        )
        assert not verify_signature(
            request_body=body,
            signature_header=signature,
            signature_key=key,
            notification_url=url + "x",
        )
        kinds.append(json.loads(body)["type"])
    # one of each, in whatever order they arrived (deliveries run side by side, as Square's)
    assert sorted(kinds) == [
        "catalog.version.updated",
        "customer.created",
        "customer.updated",
        "payment.created",
    ]


async def test_malformed_values_still_answer_in_square_shape(http: httpx.AsyncClient) -> None:
    _, token = await _connect(http)
    auth = {"Authorization": f"Bearer {token.access_token}"}
    answers = [
        await http.post("/square/v2/customers/search", headers=auth, json={"limit": "many"}),
        await http.post(
            "/square/v2/catalog/batch-upsert",
            headers=auth,
            json={"idempotency_key": "m", "batches": [{"objects": "nope"}]},
        ),
        await http.post("/square/v2/customers", headers=auth, content=b"{not json"),
    ]
    for answer in answers:
        assert answer.status_code == 400
        assert answer.json()["errors"][0]["category"] == "INVALID_REQUEST_ERROR"
    forged = await http.get("/square/v2/catalog/list", headers=auth, params={"cursor": "100"})
    assert forged.status_code == 400 and forged.json()["errors"][0]["code"] == "INVALID_CURSOR"


async def test_endpoints_need_the_scopes_the_seller_granted(http: httpx.AsyncClient) -> None:
    # The original service asked for these scopes only: no MERCHANT_PROFILE_READ.
    original = "ITEMS_READ ITEMS_WRITE INVENTORY_READ INVENTORY_WRITE PAYMENTS_READ CUSTOMERS_READ"
    sdk, token = await _connect(http, scope=original)
    with pytest.raises(ApiError) as refused:
        await sdk.merchants.get("me", request_options=NO_RETRY)
    assert refused.value.status_code == 403
    assert refused.value.errors[0].code == "INSUFFICIENT_SCOPES"
    with pytest.raises(ApiError):
        await sdk.customers.create(given_name="No write scope", request_options=NO_RETRY)
    assert [obj async for obj in await sdk.catalog.list(types="ITEM")] == []
    status = await sdk.o_auth.retrieve_token_status()
    assert set(status.scopes or []) == set(original.split())
    assert status.merchant_id == token.merchant_id


async def test_catalog_orders_closed_by_an_external_payment(http: httpx.AsyncClient) -> None:
    """A line item naming a catalog variation takes its name and price from the catalog; an
    EXTERNAL payment of what the order owes completes it; more than it owes, or an EXTERNAL
    source without ``external_details``, is refused."""
    sdk, _ = await _connect(http)
    location = (await sdk.locations.list()).locations[0].id  # type: ignore[index]
    upserted = await sdk.catalog.batch_upsert(
        idempotency_key="orders-catalog",
        batches=[
            {
                "objects": [
                    {
                        "type": "ITEM",
                        "id": "#show",
                        "item_data": {
                            "name": "Show",
                            "variations": [
                                {
                                    "type": "ITEM_VARIATION",
                                    "id": "#ga",
                                    "item_variation_data": {
                                        "item_id": "#show",
                                        "name": "GA",
                                        "pricing_type": "FIXED_PRICING",
                                        "price_money": {"amount": 2500, "currency": "USD"},
                                    },
                                }
                            ],
                        },
                    }
                ]
            }
        ],
    )
    ga = {m.client_object_id: m.object_id for m in upserted.id_mappings or []}["#ga"]
    order = (
        await sdk.orders.create(
            idempotency_key="catalog-order",
            order={
                "location_id": location,
                "line_items": [{"catalog_object_id": ga, "quantity": "2"}],
            },
        )
    ).order
    assert order is not None and order.state == "OPEN"
    line = (order.line_items or [])[0]
    assert (line.name, line.variation_name, line.base_price_money.amount) == ("Show", "GA", 2500)  # type: ignore[union-attr]
    assert order.total_money.amount == 5000  # type: ignore[union-attr]
    with pytest.raises(ApiError) as no_details:
        await sdk.payments.create(
            source_id="EXTERNAL",
            idempotency_key="ext-0",
            order_id=order.id,
            amount_money={"amount": 5000, "currency": "USD"},
            request_options=NO_RETRY,
        )
    assert no_details.value.errors[0].field == "external_details"
    with pytest.raises(ApiError) as too_much:
        await sdk.payments.create(
            source_id="EXTERNAL",
            external_details={"type": "OTHER", "source": "Box office"},
            idempotency_key="ext-1",
            order_id=order.id,
            amount_money={"amount": 5001, "currency": "USD"},
            request_options=NO_RETRY,
        )
    assert too_much.value.status_code == 400
    payment = (
        await sdk.payments.create(
            source_id="EXTERNAL",
            external_details={"type": "OTHER", "source": "Box office"},
            idempotency_key="ext-2",
            order_id=order.id,
            amount_money={"amount": 5000, "currency": "USD"},
        )
    ).payment
    assert payment is not None and payment.source_type == "EXTERNAL"
    closed = (await sdk.orders.search(location_ids=[location])).orders or []
    paid = next(o for o in closed if o.id == order.id)
    assert (paid.state, paid.version) == ("COMPLETED", 2)
    assert [t.payment_id for t in paid.tenders or []] == [payment.id]


async def test_customer_bulk_create_and_update(http: httpx.AsyncClient) -> None:
    """Per-entry answers in the SDK's response types, the 100 limit, replayed keys and hooks."""
    received: list[dict[str, Any]] = []

    async def receive(request: Request) -> Response:
        received.append(json.loads(await request.body()))
        return Response(status_code=200)

    receiver = Starlette(routes=[Route("/hooks/square", receive, methods=["POST"])])
    with serve_in_thread(receiver) as receiver_url:
        url = f"{receiver_url}/hooks/square"
        await http.post("/square/_sandbox/webhooks", headers=CONTROL, json={"url": url})
        try:
            sdk, _ = await _connect(http)
            entries: Any = {
                "bulk-a": {"given_name": "Ada", "email_address": "ada@example.com"},
                "bulk-b": {"family_name": "Hopper", "reference_id": "r-b"},
                "bulk-bad": {"note": "nobody"},
            }
            made = await sdk.customers.batch_create(customers=entries)
            replay = await sdk.customers.batch_create(customers=entries)
            reused = await sdk.customers.batch_create(
                customers={"bulk-a": {"given_name": "Someone else"}}
            )
            a = made.responses["bulk-a"].customer  # type: ignore[index]
            b = made.responses["bulk-b"].customer  # type: ignore[index]
            updates: Any = {
                a.id: {"note": "VIP", "version": 0},  # type: ignore[union-attr]
                b.id: {"note": "late", "version": 7},  # type: ignore[union-attr]
                "NO_SUCH_CUSTOMER": {"note": "x"},
            }
            changed = await sdk.customers.bulk_update_customers(customers=updates)
            await http.get("/square/_sandbox/webhooks", headers=CONTROL)  # waits for delivery
        finally:
            await http.post("/square/_sandbox/webhooks", headers=CONTROL, json={"url": None})
    assert a is not None and b is not None
    assert (a.given_name, a.email_address, a.version) == ("Ada", "ada@example.com", 0)
    assert (b.family_name, b.reference_id) == ("Hopper", "r-b")
    bad = made.responses["bulk-bad"]  # type: ignore[index]
    assert bad.customer is None and bad.errors is not None
    assert bad.errors[0].code == "BAD_REQUEST"
    # The same keys and data answer the first customers and create nothing new.
    assert replay.responses["bulk-a"].customer.id == a.id  # type: ignore[index,union-attr]
    assert replay.responses["bulk-b"].customer.id == b.id  # type: ignore[index,union-attr]
    assert reused.responses["bulk-a"].errors[0].code == "IDEMPOTENCY_KEY_REUSED"  # type: ignore[index]
    listed = await sdk.customers.search(
        query={"filter": {"email_address": {"exact": "ada@example.com"}}}
    )
    assert [c.id for c in listed.customers or []] == [a.id]

    responses = changed.responses or {}
    assert responses[a.id].customer.note == "VIP"  # type: ignore[union-attr]
    assert responses[a.id].customer.version == 1  # type: ignore[union-attr]
    assert responses[b.id].errors[0].code == "VERSION_MISMATCH"  # type: ignore[index]
    assert responses["NO_SUCH_CUSTOMER"].errors[0].code == "NOT_FOUND"  # type: ignore[index]
    assert (await sdk.customers.get(b.id)).customer.note is None  # type: ignore[union-attr]

    assert sorted((e["type"], e["data"]["id"]) for e in received) == sorted(
        [("customer.created", a.id), ("customer.created", b.id), ("customer.updated", a.id)]
    )
    assert received[-1]["data"]["object"]["customer"]["note"] == "VIP"

    too_many: Any = {f"k{i}": {"given_name": f"N{i}"} for i in range(101)}
    with pytest.raises(ApiError) as refused:
        await sdk.customers.batch_create(customers=too_many, request_options=NO_RETRY)
    assert refused.value.status_code == 400
    assert refused.value.errors[0].code == "TOO_MANY_MAP_ENTRIES"
    with pytest.raises(ApiError) as refused:
        await sdk.customers.bulk_update_customers(
            customers={f"c{i}": {"note": "n"} for i in range(101)}, request_options=NO_RETRY
        )
    assert refused.value.errors[0].code == "TOO_MANY_MAP_ENTRIES"
    hundred: Any = {f"h{i}": {"given_name": f"N{i}"} for i in range(100)}
    full = await sdk.customers.batch_create(customers=hundred)
    assert all(r.customer is not None for r in (full.responses or {}).values())
    assert len(full.responses or {}) == 100


async def test_idempotent_replays_send_no_second_webhook(http: httpx.AsyncClient) -> None:
    """A replayed create (same idempotency key and body) answers the first object, as Square
    does, and announces nothing: the one ``customer.created`` and ``payment.created`` stand."""
    received: list[dict[str, Any]] = []

    async def receive(request: Request) -> Response:
        received.append(json.loads(await request.body()))
        return Response(status_code=200)

    receiver = Starlette(routes=[Route("/hooks/square", receive, methods=["POST"])])
    with serve_in_thread(receiver) as receiver_url:
        url = f"{receiver_url}/hooks/square"
        await http.post("/square/_sandbox/webhooks", headers=CONTROL, json={"url": url})
        try:
            sdk, _ = await _connect(http)
            first = await sdk.customers.create(idempotency_key="once-c", given_name="Once")
            again = await sdk.customers.create(idempotency_key="once-c", given_name="Once")
            payment: Any = {
                "source_id": "cnon:card-nonce-ok",
                "idempotency_key": "once-p",
                "amount_money": {"amount": 900, "currency": "USD"},
            }
            paid = await sdk.payments.create(**payment)
            paid_again = await sdk.payments.create(**payment)
            await http.get("/square/_sandbox/webhooks", headers=CONTROL)  # waits for delivery
        finally:
            await http.post("/square/_sandbox/webhooks", headers=CONTROL, json={"url": None})
    assert first.customer is not None and again.customer is not None
    assert again.customer.id == first.customer.id
    assert paid.payment is not None and paid_again.payment is not None
    assert paid_again.payment.id == paid.payment.id
    assert sorted((e["type"], e["data"]["id"]) for e in received) == sorted(
        [("customer.created", first.customer.id), ("payment.created", paid.payment.id)]
    )
