"""The official stripe-python SDK (async, httpx) against the sandbox over HTTP: if it cannot tell
the sandbox from Stripe for the calls the platform makes, neither can the platform."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import stripe
from tests.sandbox.sandbox_server import SECRET_KEY, Receiver, serve

from tickettoken.sandbox.app import SandboxOptions, create_sandbox_app

# stripe-python's HTTPXClient passes form bodies as ``data=`` (httpx deprecates that): its warning.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=:DeprecationWarning")


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    recorder = Receiver()
    async with serve(recorder.app()) as url:
        yield recorder, url


@pytest.fixture
async def sandbox(receiver: tuple[Receiver, str]) -> AsyncIterator[str]:
    options = SandboxOptions(stripe_webhook_url=f"{receiver[1]}/webhooks/stripe")
    async with serve(create_sandbox_app(secret_key=SECRET_KEY, options=options)) as url:
        yield url


def client_for(url: str, key: str = SECRET_KEY, retries: int = 0) -> stripe.StripeClient:
    return stripe.StripeClient(
        key,
        base_addresses={"api": url, "connect": url},
        http_client=stripe.HTTPXClient(allow_sync_methods=True),
        max_network_retries=retries,
    )


async def test_catalog_and_customers_with_pagination_and_search(sandbox: str) -> None:
    client = client_for(sandbox)
    product = await client.v1.products.create_async({"name": "Gala night", "metadata": {"e": "1"}})
    price = await client.v1.prices.create_async(
        {"product": product.id, "unit_amount": 2500, "currency": "usd"}
    )
    updated = await client.v1.products.update_async(product.id, {"default_price": price.id})
    assert updated.default_price == price.id and updated.metadata["e"] == "1"
    with pytest.raises(stripe.InvalidRequestError) as immutable:
        await client.v1.prices.update_async(price.id, {"unit_amount": 10})  # type: ignore[typeddict-unknown-key]
    assert immutable.value.code == "parameter_unknown" and immutable.value.param == "unit_amount"

    emails = [f"fan{i}@example.com" for i in range(5)]
    for email in emails:
        await client.v1.customers.create_async({"email": email, "name": "Fan"})
    first = await client.v1.customers.list_async({"limit": 2})
    assert [c.email for c in first.data] == emails[:-3:-1] and first.has_more
    second = await client.v1.customers.list_async({"limit": 2, "starting_after": first.data[-1].id})
    assert [c.email for c in second.data] == [emails[2], emails[1]] and second.has_more
    everyone = [
        c.email
        async for c in (await client.v1.customers.list_async({"limit": 2})).auto_paging_iter()
    ]
    assert sorted(everyone) == sorted(emails)

    found = await client.v1.customers.search_async({"query": "email:'fan3@example.com'"})
    assert [c.email for c in found.data] == ["fan3@example.com"]
    pages = await client.v1.customers.search_async({"query": "name:'Fan'", "limit": 3})
    assert len(pages.data) == 3 and pages.has_more and pages.next_page
    rest = await client.v1.customers.search_async(
        {"query": "name:'Fan'", "limit": 3, "page": pages.next_page}
    )
    assert len(rest.data) == 2 and not rest.has_more
    changed = await client.v1.customers.update_async(found.data[0].id, {"name": "Renamed"})
    assert changed.name == "Renamed"
    with pytest.raises(stripe.InvalidRequestError) as bad_query:
        await client.v1.customers.search_async({"query": "email:'a' AND name:'b' OR name:'c'"})
    assert bad_query.value.param == "query"


async def test_payment_intent_lifecycle_refunds_and_expand(sandbox: str) -> None:
    client = client_for(sandbox)
    customer = await client.v1.customers.create_async({"email": "buyer@example.com"})
    intent = await client.v1.payment_intents.create_async(
        {
            "amount": 5000,
            "currency": "usd",
            "customer": customer.id,
            "capture_method": "manual",
            "payment_method": "pm_card_visa",
        }
    )
    assert intent.status == "requires_confirmation"
    intent = await client.v1.payment_intents.confirm_async(intent.id)
    assert intent.status == "requires_capture"
    intent = await client.v1.payment_intents.capture_async(intent.id, {"amount_to_capture": 4000})
    assert intent.status == "succeeded" and intent.amount_received == 4000
    full = await client.v1.payment_intents.retrieve_async(
        intent.id, {"expand": ["latest_charge", "customer"]}
    )
    assert (
        isinstance(full.latest_charge, stripe.Charge) and full.latest_charge.amount_captured == 4000
    )
    assert isinstance(full.customer, stripe.Customer) and full.customer.email == "buyer@example.com"

    refund = await client.v1.refunds.create_async({"payment_intent": intent.id, "amount": 1500})
    again = await client.v1.refunds.retrieve_async(refund.id)
    assert again.amount == 1500 and again.charge == full.latest_charge.id
    listed = await client.v1.refunds.list_async({"payment_intent": intent.id})
    assert [r.id for r in listed.data] == [refund.id]
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        await client.v1.refunds.create_async({"payment_intent": intent.id, "amount": 999_999})
    assert too_much.value.code == "amount_too_large"
    with pytest.raises(stripe.InvalidRequestError) as free_text:
        await client.v1.refunds.create_async({"payment_intent": intent.id, "reason": "rain"})  # type: ignore[typeddict-item]
    assert free_text.value.param == "reason"

    with pytest.raises(stripe.InvalidRequestError) as cannot_cancel:
        await client.v1.payment_intents.cancel_async(intent.id)
    assert cannot_cancel.value.code == "payment_intent_unexpected_state"
    open_intent = await client.v1.payment_intents.create_async({"amount": 100, "currency": "usd"})
    open_intent = await client.v1.payment_intents.update_async(
        open_intent.id, {"amount": 150, "metadata": {"order_id": "o-9"}}
    )
    assert open_intent.amount == 150 and open_intent.metadata["order_id"] == "o-9"
    expanded = await client.v1.payment_intents.list_async(
        {"customer": customer.id, "expand": ["data.latest_charge"]}
    )
    assert [i.latest_charge.id for i in expanded.data] == [full.latest_charge.id]
    canceled = await client.v1.payment_intents.cancel_async(open_intent.id)
    assert canceled.status == "canceled"
    charges = await client.v1.charges.list_async({"customer": customer.id})
    assert [c.id for c in charges.data] == [full.latest_charge.id]
    payout = await client.v1.payouts.create_async({"amount": 700, "currency": "usd"})
    assert (await client.v1.payouts.retrieve_async(payout.id)).status == "paid"
    account = await client.v1.accounts.retrieve_current_async()
    assert account.object == "account" and account.id.startswith("acct_")


async def test_error_objects_become_the_sdk_error_classes(sandbox: str) -> None:
    client = client_for(sandbox)
    with pytest.raises(stripe.CardError) as declined:
        await client.v1.payment_intents.create_async(
            {
                "amount": 900,
                "currency": "usd",
                "confirm": True,
                "payment_method": "pm_card_chargeDeclinedInsufficientFunds",
            }
        )
    error = declined.value.error
    assert error is not None and error.code == "card_declined"
    assert error.decline_code == "insufficient_funds" and error.doc_url
    assert (
        error.payment_intent is not None
        and error.payment_intent["status"] == "requires_payment_method"
    )
    with pytest.raises(stripe.InvalidRequestError) as missing:
        await client.v1.customers.retrieve_async("cus_nobody")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as param:
        await client.v1.payment_intents.create_async({"currency": "usd"})  # type: ignore[typeddict-item]
    assert param.value.code == "parameter_missing" and param.value.param == "amount"
    with pytest.raises(stripe.AuthenticationError):
        await client_for(sandbox, key="sk_test_wrong").v1.customers.list_async()
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        await client.raw_request_async("get", "/v1/no_such_things")
    assert unknown.value.http_status == 404 and "Unrecognized request URL" in str(unknown.value)
    async with httpx.AsyncClient() as http:
        answer = await http.delete(
            f"{sandbox}/v1/payment_intents", headers={"Authorization": f"Bearer {SECRET_KEY}"}
        )
    assert answer.status_code == 404
    assert answer.json()["error"]["message"].startswith("Unrecognized request URL (DELETE:")


async def test_idempotency_replays_per_key_and_refuses_other_parameters(sandbox: str) -> None:
    client = client_for(sandbox)
    options: stripe.RequestOptions = {"idempotency_key": "order-77"}
    first = await client.v1.customers.create_async({"email": "a@example.com"}, options)
    replay = await client.v1.customers.create_async({"email": "a@example.com"}, options)
    assert replay.id == first.id
    assert replay.last_response is not None
    assert replay.last_response.headers.get("Idempotent-Replayed") == "true"
    with pytest.raises(stripe.IdempotencyError):
        await client.v1.customers.create_async({"email": "b@example.com"}, options)
    # The same key under another API key (a connected account's) is another request.
    token = await asyncio.to_thread(_connect_token, sandbox, await _client_id(sandbox))
    other = client_for(sandbox, key=token.access_token)
    theirs = await other.v1.customers.create_async({"email": "b@example.com"}, options)
    assert theirs.id != first.id


def _connect_token(sandbox: str, client_id: str) -> stripe.OAuth.OAuthToken:
    """The whole Connect flow as the platform runs it: authorize URL, redirect, token."""
    client = client_for(sandbox)
    url = client.oauth.authorize_url(
        {
            "client_id": client_id,
            "scope": "read_write",
            "state": "s-1",
            "redirect_uri": "http://127.0.0.1:9/callback",
        }
    )
    redirect = httpx.get(url).headers["location"]
    query = parse_qs(urlsplit(redirect).query)
    assert query["state"] == ["s-1"]
    return client.oauth.token({"grant_type": "authorization_code", "code": query["code"][0]})


async def _index(sandbox: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        index: dict[str, Any] = (await http.get(f"{sandbox}/")).json()
        return index


async def _client_id(sandbox: str) -> str:
    return str((await _index(sandbox))["providers"]["stripe"]["connect_client_id"])


async def test_connect_oauth_without_a_browser(
    sandbox: str, receiver: tuple[Receiver, str]
) -> None:
    recorder, hook_base = receiver
    platform = client_for(sandbox)
    connect_hook = await platform.v1.webhook_endpoints.create_async(
        {"url": f"{hook_base}/connect", "enabled_events": ["charge.succeeded"], "connect": True}
    )
    assert connect_hook.secret and connect_hook.secret.startswith("whsec_")
    client_id = await _client_id(sandbox)
    token = await asyncio.to_thread(_connect_token, sandbox, client_id)
    assert token.stripe_user_id.startswith("acct_") and token.refresh_token
    connected = client_for(sandbox, key=token.access_token)
    me = await connected.v1.accounts.retrieve_current_async()
    assert me.id == token.stripe_user_id
    # The connected account's objects are its own.
    theirs = await connected.v1.customers.create_async({"email": "venue@example.com"})
    with pytest.raises(stripe.InvalidRequestError):
        await client_for(sandbox).v1.customers.retrieve_async(theirs.id)
    acting = await client_for(sandbox).v1.customers.retrieve_async(
        theirs.id, options={"stripe_account": token.stripe_user_id}
    )
    assert acting.id == theirs.id
    # Their charge reaches the platform's Connect endpoint, tagged with their account; the
    # platform's own charge does not.
    for who in (connected, platform):
        await who.v1.payment_intents.create_async(
            {"amount": 800, "currency": "usd", "confirm": True, "payment_method": "pm_card_visa"}
        )

    def charges_seen() -> int:  # the configured endpoint gets every account's events
        return sum(
            b"charge.succeeded" in body and url.endswith("/webhooks/stripe")
            for body, _, url in recorder.received
        )

    for _ in range(100):
        if charges_seen() >= 2 and any(u.endswith("/connect") for *_, u in recorder.received):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.1)  # deliveries of one event go out together
    to_connect = [
        stripe.Webhook.construct_event(body, headers["stripe-signature"], connect_hook.secret)
        for body, headers, url in recorder.received
        if url.endswith("/connect")
    ]
    assert [(e.type, e.account) for e in to_connect] == [("charge.succeeded", token.stripe_user_id)]

    client = client_for(sandbox)
    with pytest.raises(stripe.oauth_error.InvalidGrantError):
        await asyncio.to_thread(
            client.oauth.token, {"grant_type": "authorization_code", "code": "ac_used_or_fake"}
        )
    refreshed = await asyncio.to_thread(
        client.oauth.token, {"grant_type": "refresh_token", "refresh_token": token.refresh_token}
    )
    assert refreshed.stripe_user_id == token.stripe_user_id
    deny_url = client.oauth.authorize_url(
        {
            "client_id": client_id,
            "state": "s-2",
            "redirect_uri": "http://127.0.0.1:9/cb",
            "deny": "1",
        }  # type: ignore[typeddict-unknown-key]
    )
    async with httpx.AsyncClient() as http:
        denied = (await http.get(deny_url)).headers["location"]
    assert parse_qs(urlsplit(denied).query) == {
        "error": ["access_denied"],
        "error_description": ["The user denied your request"],
        "state": ["s-2"],
    }


async def test_rate_limit_is_25_per_second_per_key(receiver: tuple[Receiver, str]) -> None:
    options = SandboxOptions(stripe_burst=25)
    async with serve(create_sandbox_app(secret_key=SECRET_KEY, options=options)) as url:
        client = client_for(url)
        answers = await asyncio.gather(
            *(client.v1.customers.list_async() for _ in range(40)), return_exceptions=True
        )
        limited = [a for a in answers if isinstance(a, stripe.RateLimitError)]
        assert 10 <= len(limited) <= 15, answers
        error = limited[0]
        assert error.error is not None and error.error.code == "rate_limit"
        assert error.http_status == 429
        assert error.headers is not None and error.headers.get("Stripe-Should-Retry") == "true"
        await asyncio.sleep(1.0)
        assert (await client.v1.customers.list_async()).object == "list"
        # The SDK's own retries (it honours Stripe-Should-Retry) get every call through.
        patient = client_for(url, retries=5)
        many = await asyncio.gather(*(patient.v1.customers.list_async() for _ in range(40)))
        assert all(page.object == "list" for page in many)


async def test_refund_webhook_verifies_with_the_sdk(
    sandbox: str, receiver: tuple[Receiver, str]
) -> None:
    recorder, _ = receiver
    index = await _index(sandbox)
    secret = index["providers"]["stripe"]["webhook_signing_secrets"][0]["secret"]
    client = client_for(sandbox)
    intent = await client.v1.payment_intents.create_async(
        {"amount": 1200, "currency": "usd", "confirm": True, "payment_method": "pm_card_visa"}
    )
    await client.v1.refunds.create_async({"payment_intent": intent.id})
    for _ in range(100):
        types = [
            stripe.Webhook.construct_event(b, h["stripe-signature"], secret).type
            for b, h, _ in recorder.received
        ]
        if "charge.refunded" in types:
            break
        await asyncio.sleep(0.05)
    assert {"charge.succeeded", "refund.created", "charge.refunded"} <= set(types)
    body, headers, _ = recorder.received[0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body + b" ", headers["stripe-signature"], secret)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, headers["stripe-signature"], "whsec_other")
    event = await client.v1.events.retrieve_async(
        stripe.Webhook.construct_event(body, headers["stripe-signature"], secret).id
    )
    assert event.type == types[0]


async def test_invalid_parameters_save_no_idempotent_answer_and_reset_forgets(
    sandbox: str,
) -> None:
    client = client_for(sandbox)
    options: stripe.RequestOptions = {"idempotency_key": "fix-and-retry"}
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.payment_intents.create_async({"currency": "usd"}, options)  # type: ignore[typeddict-item]
    fixed = await client.v1.payment_intents.create_async(
        {"amount": 300, "currency": "usd"}, options
    )
    assert fixed.status == "requires_payment_method"
    customer = await client.v1.customers.create_async({"email": "gone@example.com"})
    async with httpx.AsyncClient() as http:
        assert (await http.post(f"{sandbox}/_sandbox/reset")).status_code == 401
        done = await http.post(
            f"{sandbox}/_sandbox/reset", headers={"Authorization": f"Bearer {SECRET_KEY}"}
        )
        assert done.json()["reset"][:3] == ["stripe", "mailchimp", "mandrill"]
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.customers.retrieve_async(customer.id)
    assert (await client.v1.accounts.retrieve_current_async()).object == "account"
    index = await _index(sandbox)
    assert index["providers"]["stripe"]["webhook_signing_secrets"]  # the configured endpoint stays
