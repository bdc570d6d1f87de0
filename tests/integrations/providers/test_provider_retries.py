"""Retries, limits and idempotency keys, asserted on what the sandbox received: 429s retried
honouring Retry-After, one idempotency key for every attempt of a write, the sandboxes' own
limits (Stripe 25/s per key, QuickBooks per realm, Mailchimp 10 connections, Square 429) met by
retries with generous limiters and never reached with the default (SPEC) limiters."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from tests.integrations.providers.provider_support import (
    CONTROL,
    KEY,
    ArrivalLog,
    Recorder,
    approve,
    control,
    redirect_uri,
)

from tickettoken.integrations.providers import (
    Credentials,
    MailchimpProvider,
    Provider,
    ProviderError,
    QuickBooksProvider,
    RetryPolicy,
    SquareProvider,
    StripeProvider,
)
from tickettoken.kit.provider_limits import create_rate_limiter
from tickettoken.kit.settings import Settings

PATIENT = RetryPolicy(max_attempts=8, base_delay=0.2, max_delay=1.0, max_retry_after=2.0)
PLATFORM = Credentials(api_key=KEY)
# squareup's generated models still read pydantic's deprecated ``__fields__``.


@pytest.fixture
def stripe_faults(sandbox_url: str) -> Iterator[Callable[..., None]]:
    def inject(**plan: Any) -> None:
        httpx.post(f"{sandbox_url}/_sandbox/payments/faults", headers=CONTROL, json=plan)

    yield inject
    inject(count=0)


async def test_stripe_429_waits_retry_after_and_keeps_the_idempotency_key(
    make_provider: Callable[..., Provider],
    stripe_faults: Callable[..., None],
    arrival_log: ArrivalLog,
    recorder: Recorder,
) -> None:
    stripe = make_provider("stripe")
    assert isinstance(stripe, StripeProvider)
    email = f"{uuid.uuid4().hex}@retry.example"
    stripe_faults(status=429, count=2, path_prefix="/v1/customers", retry_after=0.5)
    started = time.monotonic()
    customer = await stripe.create_customer(
        PLATFORM, {"email": email}, idempotency_key=f"cust-{email}"
    )
    elapsed = time.monotonic() - started
    assert customer.email == email
    assert elapsed >= 1.0  # two Retry-After waits of 0.5 s
    sent = [
        a
        for a in arrival_log.matching("POST", "/v1/customers")
        if parse_qs(a.body.decode()).get("email") == [email]
    ]
    assert len(sent) == 3
    assert {a.headers["idempotency-key"] for a in sent} == {f"cust-{email}"}
    statuses = [r.status for r in recorder.records if r.endpoint == "customers.create"]
    assert statuses == [429, 429, 200]
    assert [r.attempt for r in recorder.records if r.endpoint == "customers.create"] == [1, 2, 3]


async def test_a_retry_after_beyond_the_policy_is_left_to_the_caller(
    make_provider: Callable[..., Provider],
    stripe_faults: Callable[..., None],
    recorder: Recorder,
) -> None:
    stripe = make_provider("stripe")  # the tests' policy waits at most 2 s in-line
    assert isinstance(stripe, StripeProvider)
    stripe_faults(status=429, count=1, path_prefix="/v1/prices", retry_after=60)
    started = time.monotonic()
    with pytest.raises(ProviderError) as refused:
        await stripe.list_prices(PLATFORM)
    assert time.monotonic() - started < 1.0
    assert refused.value.status == 429 and refused.value.retryable
    assert refused.value.retry_after == 60
    assert [r.status for r in recorder.records] == [429]


async def test_stripe_5xx_then_gives_up_with_a_typed_error(
    make_provider: Callable[..., Provider], stripe_faults: Callable[..., None]
) -> None:
    stripe = make_provider("stripe")
    assert isinstance(stripe, StripeProvider)
    stripe_faults(status=503, count=10, path_prefix="/v1/products", retry_after=0)
    with pytest.raises(ProviderError) as failed:
        await stripe.list_products(PLATFORM)
    assert failed.value.status == 503 and failed.value.retryable
    assert KEY not in str(failed.value)


@pytest.mark.alone
async def test_stripe_rate_limit_per_key_retried_or_never_reached(
    make_provider: Callable[..., Provider], provider_settings: Settings, recorder: Recorder
) -> None:
    # With a limiter far above Stripe's 25/s, the sandbox refuses some and the retries finish.
    stripe = make_provider("stripe", retry=PATIENT)
    assert isinstance(stripe, StripeProvider)
    await asyncio.gather(*(stripe.list_customers(PLATFORM, limit=1) for _ in range(80)))
    refused = [r for r in recorder.records if r.status == 429]
    assert refused, "the sandbox's 25/s limit was never reached"
    # With the SPEC limits (25/s, burst 50 less the transit allowance) nothing is refused. A
    # connected account's token is another key: its own bucket here and at the sandbox.
    spec = make_provider("stripe", limiter=create_rate_limiter(None))
    assert isinstance(spec, StripeProvider)
    uri = redirect_uri(provider_settings, "stripe")
    callback = await approve(spec.authorize_url(state="s", redirect_uri=uri))
    grant = await spec.exchange_code(code=callback["code"], redirect_uri=uri, callback_params={})
    connected = Credentials(access_token=grant.access_token)
    recorder.records.clear()
    await asyncio.gather(*(spec.list_customers(connected, limit=1) for _ in range(60)))
    assert [r.status for r in recorder.records] == [200] * 60
    assert {r.limiter_key for r in recorder.records} == {
        f"stripe:{hashlib.sha256(grant.access_token.encode()).hexdigest()[:16]}"
    }


async def _square_seller(square: SquareProvider, settings: Settings) -> Credentials:
    uri = redirect_uri(settings, "square")
    callback = await approve(square.authorize_url(state="s", redirect_uri=uri))
    grant = await square.exchange_code(code=callback["code"], redirect_uri=uri, callback_params={})
    return Credentials(access_token=grant.access_token, extras=grant.extras)


async def test_square_rate_limited_retried_with_the_same_body_key(
    make_provider: Callable[..., Provider],
    provider_settings: Settings,
    sandbox_url: str,
    arrival_log: ArrivalLog,
    recorder: Recorder,
) -> None:
    square = make_provider("square", retry=PATIENT)
    assert isinstance(square, SquareProvider)
    seller = await _square_seller(square, provider_settings)
    control(sandbox_url, "/square/_sandbox/rate-limit", {"per_second": 2})
    try:
        names = [f"Show {uuid.uuid4().hex[:6]}" for _ in range(4)]
        results = await asyncio.gather(
            *(
                square.catalog_batch_upsert(
                    seller,
                    [{"objects": [{"type": "ITEM", "id": f"#{i}", "item_data": {"name": n}}]}],
                    idempotency_key=f"upsert-{n}",
                )
                for i, n in enumerate(names)
            )
        )
    finally:
        control(sandbox_url, "/square/_sandbox/rate-limit", {"per_second": 1000})
    assert all(r.objects for r in results)
    assert any(r.status == 429 for r in recorder.records)
    for name in names:
        sent = [
            json.loads(a.body)
            for a in arrival_log.matching("POST", "/v2/catalog/batch-upsert")
            if name.encode() in a.body
        ]
        assert sent and {body["idempotency_key"] for body in sent} == {f"upsert-{name}"}
    retried = [
        name
        for name in names
        if len([a for a in arrival_log.arrivals if name.encode() in a.body]) > 1
    ]
    assert retried, "no upsert was retried"


async def _quickbooks_company(quickbooks: QuickBooksProvider, settings: Settings) -> Credentials:
    await quickbooks.prepare()
    uri = redirect_uri(settings, "quickbooks")
    callback = await approve(quickbooks.authorize_url(state="s", redirect_uri=uri))
    grant = await quickbooks.exchange_code(
        code=callback["code"], redirect_uri=uri, callback_params=callback
    )
    return Credentials(access_token=grant.access_token, extras=grant.extras, venue_id="v-qb")


async def test_quickbooks_throttle_retried_with_the_same_requestid(
    make_provider: Callable[..., Provider],
    provider_settings: Settings,
    sandbox_url: str,
    arrival_log: ArrivalLog,
    recorder: Recorder,
) -> None:
    quickbooks = make_provider("quickbooks", retry=PATIENT)
    assert isinstance(quickbooks, QuickBooksProvider)
    company = await _quickbooks_company(quickbooks, provider_settings)
    names = [f"Guest {uuid.uuid4().hex[:8]}" for _ in range(5)]
    control(sandbox_url, "/quickbooks/_sandbox/limits", {"per_second": 2})
    try:
        created = await asyncio.gather(
            *(
                quickbooks.create(
                    company, "Customer", {"DisplayName": n}, request_id=f"rq-{n[-8:]}"
                )
                for n in names
            )
        )
    finally:
        control(
            sandbox_url,
            "/quickbooks/_sandbox/limits",
            {"per_second": 1000, "per_minute": 100000, "batches_per_minute": 1000},
        )
    assert sorted(c["DisplayName"] for c in created) == sorted(names)
    throttled = [r for r in recorder.records if r.status == 429]
    assert throttled and all(r.limiter_key.startswith("quickbooks:") for r in throttled)
    assert all(r.venue_id == "v-qb" for r in recorder.records if r.endpoint == "customer.create")
    for name in names:
        sent = [a for a in arrival_log.matching("POST", "/customer") if name.encode() in a.body]
        assert {a.query["requestid"] for a in sent} == {f"rq-{name[-8:]}"}
    found = await quickbooks.query(
        company, "select * from Customer where DisplayName like 'Guest%'"
    )
    assert sorted(c["DisplayName"] for c in found["Customer"]) == sorted(names)  # none twice


async def test_quickbooks_limits_are_per_realm(
    make_provider: Callable[..., Provider], provider_settings: Settings, recorder: Recorder
) -> None:
    # The SPEC limiter (2/s, burst 10 per realm): a burst of 8 on each of two companies passes
    # at once, because each realm has its own bucket.
    quickbooks = make_provider("quickbooks", limiter=create_rate_limiter(None))
    assert isinstance(quickbooks, QuickBooksProvider)
    first = await _quickbooks_company(quickbooks, provider_settings)
    second = await _quickbooks_company(quickbooks, provider_settings)
    started = time.monotonic()
    await asyncio.gather(*(quickbooks.company_info(c) for c in (first, second) for _ in range(8)))
    assert time.monotonic() - started < 1.0
    keys = {r.limiter_key for r in recorder.records if r.endpoint == "companyinfo"}
    assert keys == {
        f"quickbooks:{first.extras['realm_id']}",
        f"quickbooks:{second.extras['realm_id']}",
    }


async def test_mailchimp_ten_connections(
    make_provider: Callable[..., Provider],
    sandbox_url: str,
    sandbox_index: dict[str, Any],
    recorder: Recorder,
) -> None:
    key = Credentials(api_key=sandbox_index["mailchimp"]["api_key"])
    control(sandbox_url, "/_sandbox/mailchimp/config", {"latency": 0.15})
    try:
        # A limiter allowing 100 at once: the sandbox refuses the 11th, the retries finish.
        generous = make_provider("mailchimp", retry=PATIENT)
        assert isinstance(generous, MailchimpProvider)
        await asyncio.gather(*(generous.ping(key) for _ in range(16)))
        assert any(r.status == 429 for r in recorder.records)
        # The SPEC limiter holds at most 10 connections per account: nothing is refused.
        recorder.records.clear()
        spec = make_provider("mailchimp", limiter=create_rate_limiter(None))
        assert isinstance(spec, MailchimpProvider)
        await asyncio.gather(*(spec.ping(key) for _ in range(16)))
        assert [r.status for r in recorder.records] == [200] * 16
    finally:
        control(sandbox_url, "/_sandbox/mailchimp/config", {"latency": 0})


async def test_a_limiter_that_cannot_grant_in_time_fails_typed(
    make_provider: Callable[..., Provider],
) -> None:
    from tickettoken.kit.provider_limits import ProviderLimit

    tight = create_rate_limiter(
        None, limits={"stripe": ProviderLimit(rate=0.1, concurrency=1, burst=1)}
    )
    stripe = make_provider("stripe", limiter=tight, limiter_max_wait=0.2)
    assert isinstance(stripe, StripeProvider)
    await stripe.list_products(PLATFORM, limit=1)
    with pytest.raises(ProviderError) as refused:
        await stripe.list_products(PLATFORM, limit=1)
    assert refused.value.code == "rate_limiter" and refused.value.retryable
