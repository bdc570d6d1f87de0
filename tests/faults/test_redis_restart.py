"""Redis restarted empty (issue 7, item 23, and what the fault run held): connections pooled
before the restart never fail a later call, readiness does not flap, and the event service under
load answers no 5xx and sells no seat twice. A throwaway ``redis-server`` is restarted; the
machine's shared Redis is never touched."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from tests.events.reservations.sales_catalog import insert_catalog
from tests.faults.fault_servers import ThrowawayRedis
from tests.support import auth_header, make_settings, running_app

from tickettoken.events.app import create_app as create_event_app
from tickettoken.kit.auth import mint_token
from tickettoken.kit.kv import RedisStore
from tickettoken.kit.provider_limits import create_rate_limiter
from tickettoken.queue.app import create_app as create_queue_app


async def test_pooled_connections_work_after_redis_restarted_empty(
    throwaway_redis: ThrowawayRedis,
) -> None:
    store = RedisStore(throwaway_redis.url)
    limiter = create_rate_limiter(throwaway_redis.url)
    try:
        # fill the pools with several open connections
        await asyncio.gather(*(store.set(f"k{i}", b"v") for i in range(8)))
        await asyncio.gather(*(limiter.state("stripe") for _ in range(4)))
        await asyncio.to_thread(throwaway_redis.restart_empty)
        results = await asyncio.gather(
            *(store.get(f"k{i}") for i in range(8)),
            *(store.incr(f"n{i}") for i in range(8)),
            store.ping(),
            *(limiter.state("stripe") for _ in range(4)),
            return_exceptions=True,
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        assert not failures
        assert results[:8] == [None] * 8  # restarted empty: misses, not stale values
    finally:
        await limiter.aclose()
        await store.close()


async def test_readiness_does_not_flap_after_redis_restarted(
    throwaway_redis: ThrowawayRedis, database_url: str
) -> None:
    settings = make_settings(database_url=database_url, redis_url=throwaway_redis.url)
    async with running_app(create_queue_app(settings)) as client:
        assert (await client.get("/health/ready")).status_code == 200
        await asyncio.gather(*(client.get("/health/ready") for _ in range(6)))
        await asyncio.to_thread(throwaway_redis.restart_empty)
        statuses = Counter()
        for _ in range(10):
            answers = await asyncio.gather(*(client.get("/health/ready") for _ in range(4)))
            statuses.update(a.status_code for a in answers)
            await asyncio.sleep(0.05)
        assert statuses == Counter({200: 40})


async def test_reservations_under_load_survive_redis_restarted_empty(
    throwaway_redis: ThrowawayRedis, database_url: str
) -> None:
    engine = create_async_engine(database_url)
    try:
        async with AsyncSession(engine) as session:
            catalog = await insert_catalog(session, quantity=40, max_per_order=2)
            await session.commit()
    finally:
        await engine.dispose()
    settings = make_settings(database_url=database_url, redis_url=throwaway_redis.url)
    url = f"/api/v1/events/{catalog.event_id}/reservations"
    body = {"ticket_type_id": str(catalog.ticket_type_id), "quantity": 1}
    statuses: Counter[int] = Counter()
    reader = auth_header(mint_token(role="admin", sub="faults-reader", settings=settings))
    async with running_app(create_event_app(settings)) as client:
        ten_sold = asyncio.Event()

        async def lane() -> None:
            while statuses[409] == 0:  # until the event is sold out
                token = mint_token(role="customer", sub=uuid.uuid4().hex, settings=settings)
                answer = await client.post(url, json=body, headers=auth_header(token))
                statuses[answer.status_code] += 1
                if statuses[201] >= 10:
                    ten_sold.set()
                if answer.status_code >= 500:
                    break
                read = await client.get(f"/api/v1/events/{catalog.event_id}", headers=reader)
                statuses[read.status_code] += 1

        async def restart_midway() -> None:
            await ten_sold.wait()
            await asyncio.to_thread(throwaway_redis.restart_empty)

        async with asyncio.timeout(60):
            await asyncio.gather(restart_midway(), *(lane() for _ in range(6)))
        final = (await client.get(f"/api/v1/events/{catalog.event_id}", headers=reader)).json()[
            "data"
        ]
    assert not [s for s in statuses if s >= 500], statuses
    assert statuses[201] == 40, statuses  # every seat sold once, none twice
    assert final["status"] == "sold_out"
