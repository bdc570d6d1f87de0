"""Issue 9's SDK acceptance through the platform's clients: ``stripe`` (products, prices,
customers, payment intents, refunds, error classes, idempotency replay; Connect OAuth is in
test_provider_oauth_flows) and ``squareup`` (OAuth, merchants me, catalog batch upsert and list,
customers), then the platform's own Mailchimp and QuickBooks clients on the calls the sync uses."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import stripe
from tests.integrations.providers.provider_support import KEY, approve, redirect_uri

from tickettoken.integrations.providers import (
    Credentials,
    MailchimpProvider,
    Provider,
    ProviderError,
    QuickBooksProvider,
    SquareProvider,
    StripeProvider,
)
from tickettoken.integrations.providers.mailchimp import member_hash
from tickettoken.kit.settings import Settings

PLATFORM = Credentials(api_key=KEY)
# squareup's generated models still read pydantic's deprecated ``__fields__``.


def _stripe(make_provider: Callable[..., Provider]) -> StripeProvider:
    provider = make_provider("stripe")
    assert isinstance(provider, StripeProvider)
    return provider


async def test_stripe_catalog_and_customers(make_provider: Callable[..., Provider]) -> None:
    stripe_ = _stripe(make_provider)
    tag = uuid.uuid4().hex[:10]
    product = await stripe_.create_product(
        PLATFORM, {"name": f"Show {tag}", "metadata": {"tt_id": tag}}, idempotency_key=f"p-{tag}"
    )
    price = await stripe_.create_price(
        PLATFORM,
        {"product": product.id, "unit_amount": 4500, "currency": "usd"},
        idempotency_key=f"pr-{tag}",
    )
    assert [p.id for p in await stripe_.list_prices(PLATFORM, product=product.id)] == [price.id]
    renamed = await stripe_.update_product(PLATFORM, product.id, {"name": f"Show {tag} (late)"})
    assert renamed.name.endswith("(late)")
    found = await stripe_.search_products(PLATFORM, f"metadata['tt_id']:'{tag}'")
    assert [p.id for p in found] == [product.id]
    email = f"{tag}@venue.example"
    customer = await stripe_.create_customer(PLATFORM, {"email": email}, idempotency_key=tag)
    updated = await stripe_.update_customer(PLATFORM, customer.id, {"name": "Ada"})
    assert updated.name == "Ada"
    assert [c.id for c in await stripe_.search_customers(PLATFORM, f"email:'{email}'")] == [
        customer.id
    ]
    await stripe_.create_customer(PLATFORM, {"email": f"2-{email}"}, idempotency_key=f"2-{tag}")
    page = await stripe_.list_customers(PLATFORM, limit=1)
    assert len(page.data) == 1 and page.has_more
    rest = await stripe_.list_customers(PLATFORM, limit=100, starting_after=page.data[0].id)
    assert page.data[0].id not in {c.id for c in rest.data}


async def test_stripe_payment_intents_refunds_and_expand(
    make_provider: Callable[..., Provider],
) -> None:
    stripe_ = _stripe(make_provider)
    tag = uuid.uuid4().hex[:10]
    intent = await stripe_.create_payment_intent(
        PLATFORM,
        {"amount": 5000, "currency": "usd", "payment_method": "pm_card_visa"},
        idempotency_key=f"pi-{tag}",
    )
    assert intent.status == "requires_confirmation"
    intent = await stripe_.confirm_payment_intent(PLATFORM, intent.id)
    assert intent.status == "succeeded"
    full = await stripe_.retrieve_payment_intent(PLATFORM, intent.id, expand=["latest_charge"])
    assert isinstance(full.latest_charge, stripe.Charge)
    refund = await stripe_.create_refund(
        PLATFORM, {"payment_intent": intent.id, "amount": 1500}, idempotency_key=f"re-{tag}"
    )
    again = await stripe_.retrieve_refund(PLATFORM, refund.id)
    assert again.amount == 1500 and again.charge == full.latest_charge.id
    assert [r.id for r in await stripe_.list_refunds(PLATFORM, payment_intent=intent.id)] == [
        refund.id
    ]


async def test_stripe_errors_are_typed_and_keep_the_sdk_class(
    make_provider: Callable[..., Provider],
) -> None:
    stripe_ = _stripe(make_provider)
    with pytest.raises(ProviderError) as declined:
        await stripe_.create_payment_intent(
            PLATFORM,
            {
                "amount": 900,
                "currency": "usd",
                "confirm": True,
                "payment_method": "pm_card_chargeDeclinedInsufficientFunds",
            },
            idempotency_key=uuid.uuid4().hex,
        )
    assert isinstance(declined.value.__cause__, stripe.CardError)
    assert declined.value.status == 402 and declined.value.code == "card_declined"
    assert declined.value.details["decline_code"] == "insufficient_funds"
    assert not declined.value.retryable
    with pytest.raises(ProviderError) as too_much:
        intent = await stripe_.create_payment_intent(
            PLATFORM,
            {"amount": 100, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True},
            idempotency_key=uuid.uuid4().hex,
        )
        await stripe_.create_refund(
            PLATFORM, {"payment_intent": intent.id, "amount": 999}, idempotency_key="r-too-much"
        )
    assert too_much.value.code == "amount_too_large"
    assert isinstance(too_much.value.__cause__, stripe.InvalidRequestError)
    with pytest.raises(ProviderError) as wrong_key:
        await stripe_.list_products(Credentials(api_key="sk_test_not-our-key-9876"))
    assert isinstance(wrong_key.value.__cause__, stripe.AuthenticationError)
    assert wrong_key.value.status == 401 and "not-our-key" not in str(wrong_key.value)


async def test_stripe_idempotency_replay(make_provider: Callable[..., Provider]) -> None:
    stripe_ = _stripe(make_provider)
    key = f"order-{uuid.uuid4().hex}"
    first = await stripe_.create_customer(PLATFORM, {"email": "a@x.example"}, idempotency_key=key)
    replay = await stripe_.create_customer(PLATFORM, {"email": "a@x.example"}, idempotency_key=key)
    assert replay.id == first.id
    assert replay.last_response is not None
    assert replay.last_response.headers.get("Idempotent-Replayed") == "true"
    with pytest.raises(ProviderError) as reused:
        await stripe_.create_customer(PLATFORM, {"email": "b@x.example"}, idempotency_key=key)
    assert isinstance(reused.value.__cause__, stripe.IdempotencyError)
    assert reused.value.details["type"] == "idempotency_error" and not reused.value.retryable


async def test_square_catalog_and_customers(
    make_provider: Callable[..., Provider], provider_settings: Settings
) -> None:
    square = make_provider("square")
    assert isinstance(square, SquareProvider)
    uri = redirect_uri(provider_settings, "square")
    callback = await approve(square.authorize_url(state="s", redirect_uri=uri))
    grant = await square.exchange_code(code=callback["code"], redirect_uri=uri, callback_params={})
    seller = Credentials(access_token=grant.access_token, extras=grant.extras)
    tag = uuid.uuid4().hex[:8]
    objects: list[dict[str, Any]] = [
        {
            "type": "ITEM",
            "id": f"#event-{i}",
            "item_data": {
                "name": f"Concert {tag} {i}",
                "variations": [
                    {
                        "type": "ITEM_VARIATION",
                        "id": f"#ga-{i}",
                        "item_variation_data": {
                            "item_id": f"#event-{i}",
                            "name": "General admission",
                            "pricing_type": "FIXED_PRICING",
                            "price_money": {"amount": 2500, "currency": "USD"},
                        },
                    }
                ],
            },
        }
        for i in range(3)
    ]
    upserted = await square.catalog_batch_upsert(
        seller, [{"objects": objects}], idempotency_key=f"catalog-{tag}"
    )
    mapped = {m.client_object_id: m.object_id for m in upserted.id_mappings or []}
    assert set(mapped) == {f"#event-{i}" for i in range(3)} | {f"#ga-{i}" for i in range(3)}
    replay = await square.catalog_batch_upsert(
        seller, [{"objects": objects}], idempotency_key=f"catalog-{tag}"
    )
    assert [o.id for o in replay.objects or []] == [o.id for o in upserted.objects or []]
    items, cursor = await square.catalog_list(seller, types="ITEM")
    assert {mapped[f"#event-{i}"] for i in range(3)} <= {o.id for o in items}
    assert cursor is None
    customer = await square.create_customer(
        seller, {"given_name": "Ada", "email_address": f"{tag}@venue.example"}, idempotency_key=tag
    )
    again = await square.create_customer(
        seller, {"given_name": "Ada", "email_address": f"{tag}@venue.example"}, idempotency_key=tag
    )
    assert again.id == customer.id
    updated = await square.update_customer(
        seller, customer.id, {"family_name": "Lovelace", "version": customer.version}
    )
    assert updated.family_name == "Lovelace"
    found = await square.search_customers(
        seller, {"filter": {"email_address": {"exact": f"{tag}@venue.example"}}}
    )
    assert [c.id for c in found] == [customer.id]
    assert [loc.id for loc in await square.list_locations(seller)]


async def test_mailchimp_lists_members_and_batch_subscribe(
    make_provider: Callable[..., Provider], sandbox_index: dict[str, Any]
) -> None:
    mailchimp = make_provider("mailchimp")
    assert isinstance(mailchimp, MailchimpProvider)
    key = Credentials(api_key=sandbox_index["mailchimp"]["api_key"])
    assert (await mailchimp.ping(key))["health_status"]
    lists = await mailchimp.lists(key)
    if not lists:
        lists = [
            await mailchimp.create_list(
                key,
                {
                    "name": "Fans",
                    "contact": {
                        "company": "Venue",
                        "address1": "1 Main St",
                        "city": "Springfield",
                        "state": "IL",
                        "zip": "62701",
                        "country": "US",
                    },
                    "permission_reminder": "You bought a ticket.",
                    "campaign_defaults": {
                        "from_name": "Venue",
                        "from_email": "hello@venue.example",
                        "subject": "News",
                        "language": "en",
                    },
                    "email_type_option": False,
                },
            )
        ]
    list_id = lists[0]["id"]
    tag = uuid.uuid4().hex[:8]
    email = f"Fan.{tag}@Example.com"
    member = await mailchimp.upsert_member(key, list_id, email, {"merge_fields": {"FNAME": "Ada"}})
    assert member["id"] == member_hash(email)
    again = await mailchimp.upsert_member(key, list_id, email, {"merge_fields": {"FNAME": "Al"}})
    assert again["id"] == member["id"] and again["merge_fields"]["FNAME"] == "Al"
    members = [
        {"email_address": f"batch{i}.{tag}@example.com", "status": "subscribed"} for i in range(5)
    ]
    result = await mailchimp.batch_subscribe(key, list_id, members)
    assert result["total_created"] == 5
    repeat = await mailchimp.batch_subscribe(key, list_id, members)
    assert repeat["total_created"] == 0  # an upsert: nothing new
    page = await mailchimp.list_members(key, list_id, count=2)
    assert len(page["members"]) == 2 and page["total_items"] >= 6
    with pytest.raises(ValueError):
        await mailchimp.batch_subscribe(key, list_id, [{"email_address": "x"}] * 501)


async def test_quickbooks_items_customers_invoices_query_and_batch(
    make_provider: Callable[..., Provider], provider_settings: Settings
) -> None:
    quickbooks = make_provider("quickbooks")
    assert isinstance(quickbooks, QuickBooksProvider)
    await quickbooks.prepare()
    uri = redirect_uri(provider_settings, "quickbooks")
    callback = await approve(quickbooks.authorize_url(state="s", redirect_uri=uri))
    grant = await quickbooks.exchange_code(
        code=callback["code"], redirect_uri=uri, callback_params=callback
    )
    company = Credentials(access_token=grant.access_token, extras=grant.extras)
    accounts = await quickbooks.query(company, "select * from Account where AccountType = 'Income'")
    income = accounts["Account"][0]["Id"]
    item = await quickbooks.create(
        company,
        "Item",
        {"Name": "GA ticket", "Type": "Service", "IncomeAccountRef": {"value": income}},
    )
    customer = await quickbooks.create(company, "Customer", {"DisplayName": "Ada Lovelace"})
    renamed = await quickbooks.update(
        company,
        "Customer",
        {"Id": customer["Id"], "SyncToken": customer["SyncToken"], "CompanyName": "Analytical"},
    )
    assert renamed["CompanyName"] == "Analytical" and renamed["SyncToken"] != customer["SyncToken"]
    with pytest.raises(ProviderError) as stale:
        await quickbooks.update(
            company,
            "Customer",
            {"Id": customer["Id"], "SyncToken": customer["SyncToken"], "CompanyName": "Old"},
        )
    assert stale.value.status == 400 and stale.value.code
    invoice = await quickbooks.create(
        company,
        "Invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [
                {
                    "Amount": 90.0,
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {
                        "ItemRef": {"value": item["Id"]},
                        "Qty": 2,
                        "UnitPrice": 45.0,
                    },
                }
            ],
        },
    )
    assert (await quickbooks.read(company, "Invoice", invoice["Id"]))["TotalAmt"] == 90.0
    page = await quickbooks.query(
        company, "select * from Customer", start_position=1, max_results=1
    )
    assert len(page["Customer"]) == 1
    answers = await quickbooks.batch(
        company,
        [
            {"bId": "c1", "operation": "create", "Customer": {"DisplayName": "Grace Hopper"}},
            {"bId": "dup", "operation": "create", "Customer": {"DisplayName": "Ada Lovelace"}},
            {"bId": "q", "Query": "select * from Item"},
        ],
    )
    by_id = {a["bId"]: a for a in answers}
    assert by_id["c1"]["Customer"]["DisplayName"] == "Grace Hopper"
    assert "Fault" in by_id["dup"] and by_id["q"]["QueryResponse"]["Item"]
    with pytest.raises(ValueError):
        await quickbooks.batch(
            company, [{"bId": str(i), "Query": "select * from Item"} for i in range(31)]
        )
