"""The provider rate limiter: bucket, concurrency leases, penalties, groups, timeouts.

Every behaviour runs on every backend (Redis with Lua scripts, PostgreSQL, process memory), each
test on its own key prefix so tests never share buckets.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tickettoken.kit.db import Database
from tickettoken.kit.provider_limits import (
    PostgresBackend,
    ProviderLimit,
    RateLimiter,
    RateLimitTimeout,
    UnknownProvider,
    create_rate_limiter,
)

FAST = {"p": ProviderLimit(rate=20, concurrency=100, burst=5)}


@pytest.fixture(params=["redis", "postgres", "memory"])
async def make_limiter(
    request: pytest.FixtureRequest, redis_url: str, database_url: str
) -> AsyncIterator[object]:
    clients: list[Redis] = []
    limiters: list[RateLimiter] = []
    prefix = f"tt:test:rl:{uuid.uuid4().hex}:"

    def make(limits: dict[str, ProviderLimit] | None = None, **kwargs: float) -> RateLimiter:
        if request.param == "memory":
            return create_rate_limiter(None, limits=limits, transit_allowance=0, **kwargs)
        if request.param == "postgres":
            database = Database(database_url, pool_min=1, pool_max=4, single_statements=True)
            backend = PostgresBackend(database, prefix=prefix, owns_database=True)
            limiter = RateLimiter(backend, limits=limits, transit_allowance=0, **kwargs)
            limiters.append(limiter)
            return limiter
        client = Redis.from_url(redis_url)
        clients.append(client)
        return create_rate_limiter(
            client, limits=limits, prefix=prefix, transit_allowance=0, **kwargs
        )

    yield make
    for client in clients:
        await client.aclose()
    for limiter in limiters:
        await limiter.aclose()


async def test_burst_then_steady_rate(make_limiter) -> None:  # type: ignore[no-untyped-def]
    limiter = make_limiter(FAST)
    started = time.monotonic()
    for _ in range(5):
        await limiter.release("p", await limiter.acquire("p"))
    assert time.monotonic() - started < 0.2
    for _ in range(4):
        await limiter.release("p", await limiter.acquire("p"))
    elapsed = time.monotonic() - started
    # 4 tokens beyond the burst at 20/s need about 0.2 s.
    assert 0.15 <= elapsed < 0.6


async def test_concurrency_limit_and_bounded_wait(make_limiter) -> None:  # type: ignore[no-untyped-def]
    limiter = make_limiter({"p": ProviderLimit(rate=1000, concurrency=2, burst=1000)})
    async with limiter.slot("p"), limiter.slot("p"):
        started = time.monotonic()
        with pytest.raises(RateLimitTimeout, match="'p'"):
            await limiter.acquire("p", max_wait=0.3)
        assert time.monotonic() - started < 0.6
        assert (await limiter.state("p")).in_flight == 2
    async with limiter.slot("p", max_wait=0.3):
        pass
    state = await limiter.state("p")
    assert state.in_flight == 0 and state.timeouts == 1


async def test_dead_holder_lease_expires(make_limiter) -> None:  # type: ignore[no-untyped-def]
    limiter = make_limiter(
        {"p": ProviderLimit(rate=1000, concurrency=1, burst=1000)}, lease_seconds=0.3
    )
    await limiter.acquire("p")  # never released: the holder "died"
    with pytest.raises(RateLimitTimeout):
        await limiter.acquire("p", max_wait=0.1)
    await asyncio.sleep(0.35)
    await limiter.release("p", await limiter.acquire("p", max_wait=0.5))


async def test_live_holder_keeps_its_lease(make_limiter) -> None:  # type: ignore[no-untyped-def]
    limiter = make_limiter(
        {"p": ProviderLimit(rate=1000, concurrency=1, burst=1000)}, lease_seconds=0.3
    )
    async with limiter.slot("p"):
        await asyncio.sleep(0.7)  # longer than the lease: renewal must keep it
        with pytest.raises(RateLimitTimeout):
            await limiter.acquire("p", max_wait=0.05)


async def test_penalty_stops_everyone_then_resumes_without_burst(make_limiter) -> None:  # type: ignore[no-untyped-def]
    limiter = make_limiter({"p": ProviderLimit(rate=10, concurrency=10, burst=10)})
    await limiter.penalize("p", 0.5)
    state = await limiter.state("p")
    assert state.penalized_for_seconds > 0.3
    with pytest.raises(RateLimitTimeout):
        await limiter.acquire("p", max_wait=0.3)
    started = time.monotonic()
    await limiter.release("p", await limiter.acquire("p", max_wait=2))
    await limiter.release("p", await limiter.acquire("p", max_wait=2))
    # First token 0.1 s after the penalty ends, the second 0.1 s later: no burst afterwards.
    assert time.monotonic() - started >= 0.25


async def test_groups_share_one_limiter_and_unknown_is_refused(make_limiter) -> None:  # type: ignore[no-untyped-def]
    limiter = make_limiter({"stripe": ProviderLimit(rate=0.5, concurrency=10, burst=2)})
    await limiter.acquire("stripe-charges")
    await limiter.acquire("stripe-refunds")
    with pytest.raises(RateLimitTimeout):
        await limiter.acquire("stripe-payouts", max_wait=0.2)
    with pytest.raises(UnknownProvider):
        await limiter.acquire("strpie")


async def test_reset_refills(make_limiter) -> None:  # type: ignore[no-untyped-def]
    limiter = make_limiter({"p": ProviderLimit(rate=0.1, concurrency=10, burst=1)})
    await limiter.release("p", await limiter.acquire("p"))
    with pytest.raises(RateLimitTimeout):
        await limiter.acquire("p", max_wait=0.1)
    await limiter.reset("p")
    await limiter.release("p", await limiter.acquire("p", max_wait=0.1))


def test_default_limits_match_the_spec() -> None:
    limiter = create_rate_limiter(None)
    expected = {
        "stripe": (25, 10, 50),
        "square": (8, 5, 20),
        "sendgrid": (5, 20, 100),
        "twilio": (1, 5, 10),
        "solana": (10, 5, 30),
        "quickbooks": (2, 3, 10),
        "mailchimp": (10, 10, 20),
        "internal": (100, 50, 200),
    }
    for name, (rate, conc, burst) in expected.items():
        resolved, limit = limiter.resolve(name)
        assert (resolved, limit.rate, limit.concurrency, limit.burst) == (name, rate, conc, burst)
    # beyond SPEC 6: Square's own sliding second, which the bucket's burst alone would overrun
    assert limiter.resolve("square")[1].window_calls == 10
    assert limiter.resolve("square")[1].window_seconds == 1.0
    for member in ("stripe-charges", "stripe-refunds", "stripe-payouts"):
        assert limiter.resolve(member)[0] == "stripe"
    for member in ("twilio-sms", "twilio-voice", "twilio-verify"):
        assert limiter.resolve(member)[0] == "twilio"
    for member in ("sendgrid-transactional", "sendgrid-marketing"):
        assert limiter.resolve(member)[0] == "sendgrid"


async def test_a_penalty_from_one_process_stops_another(redis_url: str) -> None:
    prefix = f"tt:test:rl:{uuid.uuid4().hex}:"
    limits = {"stripe": ProviderLimit(rate=100, concurrency=10, burst=100)}
    clients = [Redis.from_url(redis_url), Redis.from_url(redis_url)]
    try:
        first, second = (create_rate_limiter(c, limits=limits, prefix=prefix) for c in clients)
        await second.release("stripe", await second.acquire("stripe"))
        await first.penalize("stripe-charges", 0.6)  # a 429 seen by one instance...
        started = time.monotonic()
        await second.release("stripe-refunds", await second.acquire("stripe-refunds", max_wait=2))
        assert time.monotonic() - started >= 0.55  # ...holds back the other one too
    finally:
        for client in clients:
            await client.aclose()


async def test_per_account_limiters_are_separate(make_limiter) -> None:  # type: ignore[no-untyped-def]
    limiter = make_limiter({"quickbooks": ProviderLimit(rate=0.5, concurrency=10, burst=1)})
    assert limiter.resolve("quickbooks:123")[0] == "quickbooks:123"
    await limiter.acquire("quickbooks:123")
    await limiter.acquire("quickbooks:456")  # another realm: its own bucket
    with pytest.raises(RateLimitTimeout):
        await limiter.acquire("quickbooks:123", max_wait=0.2)
    with pytest.raises(UnknownProvider):
        await limiter.acquire("quickbooks:")


async def test_a_window_limit_never_lets_more_calls_start_in_any_window_and_fills_each(
    make_limiter,  # type: ignore[no-untyped-def]
) -> None:
    # a bucket that alone would let all 12 go at once; the provider counts 4 calls per 0.4 s, at
    # some moment between the call's start and its answer
    limiter = make_limiter(
        {"p": ProviderLimit(rate=100, concurrency=20, burst=20, window_calls=4, window_seconds=0.4)}
    )
    calls: list[tuple[float, float]] = []

    async def call(n: int) -> None:
        async with limiter.slot("p", max_wait=5):
            started = time.monotonic()
            await asyncio.sleep(0.1 * (n % 3))  # the provider takes its time to answer
            calls.append((started, time.monotonic()))

    began = time.monotonic()
    await asyncio.gather(*(call(n) for n in range(12)))
    for start, _ in calls:
        # a call's place is taken from its start until a window after its answer: at no start
        # may more than 4 places be taken (the provider would count 5 in one window)
        taken = [1 for s, answered in calls if s <= start < answered + 0.4]
        assert len(taken) <= 4, sorted(round(s - began, 3) for s, _ in calls)
    # and no later than needed: three windows, each after the last answers of the one before
    assert max(answered for _, answered in calls) - began < 2.2
