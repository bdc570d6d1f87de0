"""The call observer (what the integration service counts API calls and costs from) and the
shared limiter in Redis, as two processes' providers would use it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from tests.integrations.providers.provider_support import KEY, Recorder, approve, redirect_uri

from tickettoken.integrations.providers import (
    CallRecord,
    Credentials,
    Provider,
    QuickBooksProvider,
    StripeProvider,
    venue_scope,
)
from tickettoken.kit.provider_limits import ProviderLimit, create_rate_limiter
from tickettoken.kit.settings import Settings


async def test_records_carry_sizes_venue_and_no_secret(
    make_provider: Callable[..., Provider], provider_settings: Settings, recorder: Recorder
) -> None:
    stripe = make_provider("stripe")
    assert isinstance(stripe, StripeProvider)
    uri = redirect_uri(provider_settings, "stripe")
    callback = await approve(stripe.authorize_url(state="s", redirect_uri=uri))
    with venue_scope("venue-9"):
        grant = await stripe.exchange_code(
            code=callback["code"], redirect_uri=uri, callback_params=callback
        )
    connected = Credentials(access_token=grant.access_token, venue_id="venue-9")
    await stripe.create_customer(connected, {"email": "o@x.example"}, idempotency_key="obs-1")
    token, create = recorder.records[-2], recorder.records[-1]
    assert (token.endpoint, token.venue_id, token.status) == ("oauth.token", "venue-9", 200)
    assert (create.endpoint, create.method, create.status) == ("customers.create", "POST", 200)
    assert create.request_bytes > 0 and create.response_bytes > 0 and create.elapsed_ms > 0
    assert create.limiter_key.startswith("stripe:") and create.venue_id == "venue-9"
    for record in recorder.records:
        text = repr(record)
        assert grant.access_token not in text and KEY not in text and callback["code"] not in text


async def test_a_failing_observer_never_fails_the_call(
    make_provider: Callable[..., Provider],
) -> None:
    async def broken(record: CallRecord) -> None:
        raise RuntimeError("metrics store down")

    stripe = make_provider("stripe", observer=broken)
    check = await stripe.check(Credentials(api_key=KEY))
    assert check.ok


async def test_two_processes_share_one_bucket_per_realm_in_redis(
    make_provider: Callable[..., Provider], provider_settings: Settings, redis_url: str
) -> None:
    prefix = f"tt:test:providers:{uuid.uuid4().hex}:"
    limits = {"quickbooks": ProviderLimit(rate=10, concurrency=3, burst=2)}
    limiters = [create_rate_limiter(redis_url, limits=limits, prefix=prefix) for _ in range(2)]
    first, second = (make_provider("quickbooks", limiter=lim) for lim in limiters)
    assert isinstance(first, QuickBooksProvider) and isinstance(second, QuickBooksProvider)
    await first.prepare()
    uri = redirect_uri(provider_settings, "quickbooks")
    callback = await approve(first.authorize_url(state="s", redirect_uri=uri))
    grant = await first.exchange_code(
        code=callback["code"], redirect_uri=uri, callback_params=callback
    )
    company = Credentials(access_token=grant.access_token, extras=grant.extras)
    started = time.monotonic()
    calls: list[Any] = [p.company_info(company) for p in (first, second) for _ in range(3)]
    await asyncio.gather(*calls)
    # One bucket of 1 token (2 less the transit allowance) refilling 10/s: 5 waits of 0.1 s.
    assert time.monotonic() - started >= 0.4
    redis = Redis.from_url(redis_url)
    try:
        realm = grant.extras["realm_id"]
        assert await redis.exists(f"{prefix}{{quickbooks:{realm}}}:bucket")
    finally:
        await redis.aclose()
        for limiter in limiters:
            await limiter.aclose()


async def test_an_unreachable_provider_is_a_failed_check_not_an_exception(
    make_provider: Callable[..., Provider], provider_settings: Settings, recorder: Recorder
) -> None:
    closed = "http://127.0.0.1:9"  # discard port: nothing listens, the connection is refused
    settings = provider_settings.model_copy(
        update={
            "stripe_base_url": closed,
            "square_base_url": closed,
            "mailchimp_api_base_url": closed,
            "quickbooks_base_url": closed,
        }
    )
    credentials = {
        "stripe": Credentials(api_key=KEY),
        "square": Credentials(access_token="EAAAtoken", extras={"merchant_id": "M1"}),
        "mailchimp": Credentials(api_key="abc123-us1"),
        "quickbooks": Credentials(access_token="eyJtoken", extras={"realm_id": "123"}),
    }
    for name, given in credentials.items():
        check = await make_provider(name, settings=settings).check(given)
        assert not check.ok and check.code == "network" and check.status is None, name
    # Never reached the provider, so each was tried the policy's 4 times.
    failed = [r for r in recorder.records if r.error]
    assert len(failed) == 16 and all(r.status is None for r in failed)


async def test_compressed_answers_are_decoded_once_and_counted_as_sent(
    make_provider: Callable[..., Provider], recorder: Recorder
) -> None:
    stripe = make_provider("stripe")
    assert isinstance(stripe, StripeProvider)
    for i in range(3):
        await stripe.create_product(
            Credentials(api_key=KEY),
            {"name": f"Gz {i} " + "x" * 200},
            idempotency_key=uuid.uuid4().hex,
        )
    products = await stripe.list_products(Credentials(api_key=KEY), limit=3)
    assert len(products) == 3
    listed = recorder.records[-1]
    assert listed.endpoint == "products.list" and listed.status == 200
    plain = sum(len(str(p)) for p in products)
    assert 0 < listed.response_bytes < plain  # gzip on the wire
