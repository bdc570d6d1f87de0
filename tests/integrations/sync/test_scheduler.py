"""The scheduled sync per connection (``next_sync_at``), on the real database: a due connection
gets one sync (its log row and job) however many schedulers run at once, its next time moves
on by its interval, a connection not due or still syncing gets none, and the integration
service's own background round does it."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from sqlalchemy import text
from tests.integrations.sync.conftest import seed_venue
from tests.support import running_app

from tickettoken.integrations.sync.scheduler import schedule_due
from tickettoken.kit.db import Database
from tickettoken.kit.settings import Settings

PROVIDERS = ("square", "stripe", "mailchimp", "quickbooks")


async def rows(db: Database, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with db.transaction() as session:
        return [dict(r._mapping) for r in await session.execute(text(sql), params)]


async def add_connection(
    db: Database, venue: uuid.UUID, provider: str, next_sync: str | None, **config: Any
) -> None:
    """A connected integration; ``next_sync`` is an SQL interval from now (None: never set),
    and it connected two hours ago."""
    await rows(
        db,
        "INSERT INTO integration_configs (venue_id, integration_type, status, connected_at,"
        " next_sync_at, config) VALUES (:v, :p, 'connected', now() - interval '2 hours',"
        " now() + CAST(CAST(:next AS text) AS interval), CAST(:config AS jsonb)) RETURNING id",
        v=venue,
        p=provider,
        next=next_sync,
        config=json.dumps(config),
    )


async def scheduled(db: Database, venues: list[uuid.UUID]) -> list[dict[str, Any]]:
    return await rows(
        db,
        "SELECT l.venue_id, l.integration_type, l.entity_type, l.direction, l.sync_id,"
        " (SELECT count(*) FROM jobs_communication j WHERE j.type = 'sync'"
        "   AND j.payload->>'sync_id' = l.sync_id::text) AS jobs"
        " FROM sync_logs l WHERE l.venue_id = ANY(:v) AND l.details->>'scheduled' = 'true'"
        " ORDER BY l.venue_id, l.integration_type",
        v=venues,
    )


async def forget_jobs(db: Database, venues: list[uuid.UUID]) -> None:
    """No other test's worker should run these syncs (their connections have no credentials)."""
    await rows(
        db,
        "WITH gone AS (DELETE FROM jobs_communication WHERE type = 'sync'"
        " AND venue_id = ANY(:v) RETURNING 1) SELECT count(*) FROM gone",
        v=venues,
    )
    await rows(
        db,
        "UPDATE sync_logs SET status = 'failed', completed_at = now() WHERE venue_id = ANY(:v)"
        " AND status NOT IN ('completed', 'partial', 'failed') RETURNING 1",
        v=venues,
    )


async def test_two_concurrent_schedulers_enqueue_one_sync_per_due_connection(
    database_url: str, db: Database
) -> None:
    venues = [(await seed_venue(db, events=0))["venue"] for _ in range(10)]
    try:
        for venue in venues:
            # Due: passed a minute ago (interval 15 min), and never set but connected 2 h ago.
            await add_connection(db, venue, "square", "-1 minute", sync_interval_minutes=15)
            await add_connection(db, venue, "stripe", None, sync_direction="to_provider")
            await add_connection(db, venue, "mailchimp", "1 hour")  # not due
        other = Database(database_url, pool_min=1, pool_max=5)
        try:
            first, second = await asyncio.gather(schedule_due(db), schedule_due(other))
        finally:
            await other.dispose()
        mine = set(venues)
        claimed = [(s.venue_id, s.provider) for s in first + second if s.venue_id in mine]
        assert sorted(claimed) == sorted((v, p) for v in venues for p in ("square", "stripe"))

        logs = await scheduled(db, venues)
        assert len(logs) == 20
        assert {row["jobs"] for row in logs} == {1}
        assert {(r["integration_type"], r["entity_type"], r["direction"]) for r in logs} == {
            ("square", "full", "bidirectional"),
            ("stripe", "full", "to_provider"),
        }
        nexts = await rows(
            db,
            "SELECT integration_type, round(extract(epoch FROM next_sync_at - now()) / 60)"
            " AS minutes FROM integration_configs WHERE venue_id = ANY(:v)",
            v=venues,
        )
        by_provider: dict[str, set[float]] = {}
        for row in nexts:
            by_provider.setdefault(row["integration_type"], set()).add(float(row["minutes"]))
        assert by_provider == {"square": {15.0}, "stripe": {60.0}, "mailchimp": {60.0}}

        # Nothing is due any more: a second round claims none of them.
        again = await schedule_due(db)
        assert [s for s in again if s.venue_id in mine] == []
        assert len(await scheduled(db, venues)) == 20

        # Due again while its last sync has not finished: skipped, its next time moved on.
        await rows(
            db,
            "UPDATE integration_configs SET next_sync_at = now() - interval '1 second'"
            " WHERE venue_id = :v AND integration_type = 'square' RETURNING 1",
            v=venues[0],
        )
        (skipped,) = [s for s in await schedule_due(db) if s.venue_id in mine]
        assert (skipped.provider, skipped.sync_id) == ("square", None)
        assert len(await scheduled(db, venues)) == 20
        (moved,) = await rows(
            db,
            "SELECT next_sync_at > now() AS later FROM integration_configs"
            " WHERE venue_id = :v AND integration_type = 'square'",
            v=venues[0],
        )
        assert moved["later"]
    finally:
        await forget_jobs(db, venues)


async def test_the_services_background_round_schedules_once_across_two_instances(
    integration_settings: Settings, db: Database
) -> None:
    from tickettoken.integrations.app import create_app

    venue = (await seed_venue(db, events=0))["venue"]
    settings = integration_settings.model_copy(update={"integration_sync_schedule_seconds": 0.2})
    try:
        async with running_app(create_app(settings)), running_app(create_app(settings)):
            await add_connection(db, venue, "quickbooks", "-1 second")
            deadline = asyncio.get_running_loop().time() + 15
            while not await scheduled(db, [venue]):
                assert asyncio.get_running_loop().time() < deadline, "no scheduled sync"
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # several more rounds of both instances
        (log,) = await scheduled(db, [venue])
        assert (log["integration_type"], log["jobs"]) == ("quickbooks", 1)
    finally:
        await forget_jobs(db, [venue])
