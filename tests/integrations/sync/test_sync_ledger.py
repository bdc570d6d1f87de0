"""The ledger batches the lanes' claims and completions: what several lanes ask at one moment is
one transaction, each claim leased to its own lane, and an item is completed (its records stored
and counted) only while its lease is still that lane's."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import text
from tests.integrations.sync.conftest import seed_venue

from tickettoken.integrations.sync import repository as repo
from tickettoken.integrations.sync.ledger import Ledger, Pushed
from tickettoken.integrations.sync.pushers import PushResult, saved_record
from tickettoken.kit.db import Database


def records(item: int) -> list[dict[str, Any]]:
    return [{"local_id": f"c{item}-{n}", "content_hash": f"h{item}-{n}"} for n in range(2)]


async def queue_rows(db: Database, sync_id: uuid.UUID) -> dict[str, dict[str, Any]]:
    async with db.transaction() as session:
        rows = await session.execute(
            text(
                "SELECT idempotency_key, status, lease_owner, started_at FROM sync_queue"
                " WHERE sync_id = :s"
            ),
            {"s": sync_id},
        )
        return {r["idempotency_key"].rsplit(":", 1)[1]: dict(r) for r in rows.mappings()}


async def test_a_round_claims_for_each_lane_and_completes_only_what_it_still_holds(
    db: Database,
) -> None:
    venue = (await seed_venue(db, events=0))["venue"]
    async with db.transaction() as session:
        log = await repo.insert_log(
            session,
            venue_id=venue,
            provider="square",
            sync_type="customers",
            direction="to_provider",
            details={},
        )
        sync_id = log["sync_id"]
        await repo.add_items(
            session,
            sync_id=sync_id,
            venue_id=venue,
            provider="square",
            entity_type="customers",
            chunks=[records(n) for n in range(3)],
            max_attempts=3,
        )
    ledger = Ledger(db, sync_id, venue, "square", 60.0)
    served = asyncio.create_task(ledger.run())
    try:
        owners = ["lane-a", "lane-b", "lane-c"]
        claimed = await asyncio.gather(*(ledger.next(owner) for owner in owners))
        items = [claim.item for claim in claimed]
        assert all(item is not None for item in items)
        rows = await queue_rows(db, sync_id)
        assert {r["lease_owner"] for r in rows.values()} == set(owners)
        assert len({r["started_at"] for r in rows.values()}) == 1  # one round, one transaction
        # lane-b's lease lapsed and another worker took its item over.
        taken = next(item for item in items if item and item["lease_owner"] == "lane-b")
        async with db.transaction() as session:
            await session.execute(
                text("UPDATE sync_queue SET lease_owner = 'other-worker' WHERE id = :id"),
                {"id": taken["id"]},
            )

        def pushed(owner: str, item: dict[str, Any]) -> Pushed:
            result = PushResult(api_calls=1)
            result.saved = [
                saved_record(r, f"sq-{r['local_id']}", "1", {}) for r in item["payload"]["records"]
            ]
            return Pushed(item, owner, result)

        after = await asyncio.gather(
            *(
                ledger.next(owner, pushed(owner, item))
                for owner, item in zip(owners, items, strict=True)
                if item
            )
        )
        # Nothing left to claim; lane-b's item (now another worker's) is still unfinished.
        assert [(c.item, c.wait is not None) for c in after] == [(None, True)] * 3
        rows = await queue_rows(db, sync_id)
        by_owner = {str(item["lease_owner"]): item for item in items if item}
        statuses = {
            owner: rows[by_owner[owner]["idempotency_key"].rsplit(":", 1)[1]]["status"]
            for owner in owners
        }
        assert statuses == {"lane-a": "completed", "lane-b": "processing", "lane-c": "completed"}
        async with db.transaction() as session:
            stored = await repo.synced_records(
                session,
                venue,
                "square",
                "customers",
                [r["local_id"] for n in range(3) for r in records(n)],
            )
            log = await repo.get_log(session, sync_id)
        kept = {
            r["local_id"] for o in ("lane-a", "lane-c") for r in by_owner[o]["payload"]["records"]
        }
        assert set(stored) == kept  # the taken-over item's records are its new owner's to store
        assert log is not None
        assert (log["success_count"], log["api_calls_made"]) == (4, 2)

        async with db.transaction() as session:
            await repo.request_stop(session, sync_id)
        assert (await ledger.next("lane-a")).item is None
        assert ledger.stopped
    finally:
        served.cancel()
        await asyncio.gather(served, return_exceptions=True)
