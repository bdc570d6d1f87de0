"""QuickBooks allows 40 batch requests a minute per company besides 10/s and 500/min: batch calls
take a limiter of their own (``quickbooks-batch:<realm>``, one token at a time, 39 a minute) so a
long sync never meets the sandbox's ThrottleExceeded (bench/sync_throughput.py found a sync of
2,000 customers dead-lettering items on it)."""

from __future__ import annotations

import math
from collections.abc import Callable

from tests.integrations.providers.provider_support import Recorder, approve, redirect_uri

from tickettoken.integrations.providers import Credentials, Provider, QuickBooksProvider
from tickettoken.kit.provider_limits import ProviderLimit, create_rate_limiter
from tickettoken.kit.settings import Settings


def test_the_batch_limiter_never_allows_more_than_40_a_minute() -> None:
    limiter = create_rate_limiter(None)
    name, limit = limiter.resolve("quickbooks-batch:123")
    assert name == "quickbooks-batch:123"
    assert limit == ProviderLimit(rate=39 / 60, concurrency=3, burst=1)
    # A full bucket of one token, then one every 60/39 s: the grants in any 60 s window.
    assert 1 + math.floor(60 * limit.rate) <= 40


async def test_batch_calls_take_the_batch_limiter_of_their_realm(
    make_provider: Callable[..., Provider], provider_settings: Settings, recorder: Recorder
) -> None:
    quickbooks = make_provider("quickbooks")
    assert isinstance(quickbooks, QuickBooksProvider)
    await quickbooks.prepare()
    uri = redirect_uri(provider_settings, "quickbooks")
    callback = await approve(quickbooks.authorize_url(state="s", redirect_uri=uri))
    grant = await quickbooks.exchange_code(
        code=callback["code"], redirect_uri=uri, callback_params=callback
    )
    company = Credentials(access_token=grant.access_token, extras=grant.extras, venue_id="v")
    realm = grant.extras["realm_id"]
    await quickbooks.batch(
        company,
        [{"bId": "1", "operation": "create", "Customer": {"DisplayName": f"Batch {realm}"}}],
    )
    await quickbooks.query(company, "select * from Customer")
    keys = {r.endpoint: r.limiter_key for r in recorder.records if r.venue_id == "v"}
    assert keys["batch"] == f"quickbooks-batch:{realm}"
    assert keys["query"] == f"quickbooks:{realm}"
