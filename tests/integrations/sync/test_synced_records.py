"""``save_synced`` writes a work item's records in one statement: new rows are inserted, known
ones updated in place (remote id, version, hash, data), nothing duplicated; a record given
twice keeps its last values."""

from __future__ import annotations

from typing import Any

from tests.integrations.sync.conftest import seed_venue

from tickettoken.integrations.sync import repository as repo
from tickettoken.kit.db import Database


def record(n: int, content: str) -> dict[str, Any]:
    return {
        "local_id": f"local-{n}",
        "remote_id": f"remote-{n}-{content}",
        "remote_version": content,
        "content_hash": f"hash-{n}-{content}",
        "remote_data": {"n": n, "content": content},
    }


async def test_save_synced_inserts_and_updates_in_one_call(db: Database) -> None:
    venue = (await seed_venue(db, events=0))["venue"]
    async with db.transaction() as session:
        await repo.save_synced(session, venue, "mailchimp", "customers", [])
        await repo.save_synced(
            session, venue, "mailchimp", "customers", [record(n, "a") for n in range(500)]
        )
    async with db.transaction() as session:
        await repo.save_synced(
            session,
            venue,
            "mailchimp",
            "customers",
            # local-1 twice in one call (an upsert touches a row once a statement): the last wins
            [record(0, "b"), record(1, "x"), record(500, "a"), record(1, "b")],
        )
    async with db.transaction() as session:
        found = await repo.synced_records(
            session, venue, "mailchimp", "customers", [f"local-{n}" for n in range(502)]
        )
    assert len(found) == 501
    assert found["local-0"]["remote_id"] == "remote-0-b"
    assert found["local-1"]["content_hash"] == "hash-1-b"
    assert found["local-1"]["remote_data"] == {"n": 1, "content": "b"}
    assert found["local-2"]["remote_version"] == "a"
    assert found["local-500"]["remote_id"] == "remote-500-a"
