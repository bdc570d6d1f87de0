"""The database side of a sync's lanes, in rounds: what every lane asks at one moment (record the
item it pushed, claim the next) is done in one transaction, with one statement per kind of write
(complete the items, store their synced records, add their counts, claim the next items).

Why: a lane used two transactions per item, and with ten lanes the worker's pool opened a new
PostgreSQL connection for most of them (connections beyond the pool's size are closed when
returned); the round trips, not the pushing, were most of the worker's CPU per record
(py-spy, bench/sync_throughput.py). A round's writes are the ones each lane made before, with
the same fencing: an item is completed, and its records stored, only while its lease is still
the lane's own.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.integrations.sync import repository as repo
from tickettoken.integrations.sync.pushers import Known, PushResult
from tickettoken.kit.db import Database

# What a transaction refers to: its customer and its event's items, synced by the other types.
REFERENCES = {"customer": ("customers", "customer_id"), "product": ("products", "event_id")}
ERRORS_PER_ITEM = 20


@dataclass
class Pushed:
    """A lane's item and what its push wrote, to be recorded."""

    item: dict[str, Any]
    owner: str
    result: PushResult


@dataclass
class Claim:
    """A lane's answer: its item and what the item's records are already synced as; or no item,
    with ``wait``: seconds until an unfinished item may be claimed (a retry's delay, another
    worker's lease), None when every item is finished (``repository.next_wait``)."""

    item: dict[str, Any] | None = None
    known: Known = field(default_factory=dict)
    wait: float | None = None


@dataclass
class _Ask:
    owner: str
    pushed: Pushed | None
    answer: asyncio.Future[Claim]


class Ledger:
    def __init__(
        self,
        database: Database,
        sync_id: uuid.UUID,
        venue_id: uuid.UUID,
        provider: str,
        lease_seconds: float,
    ) -> None:
        self.database = database
        self.sync_id = sync_id
        self.venue_id = venue_id
        self.provider = provider
        self.lease_seconds = lease_seconds
        self.stopped = False  # the sync was stopped: nothing more is claimed
        self._asks: list[_Ask] = []
        self._asked = asyncio.Event()

    async def next(self, owner: str, pushed: Pushed | None = None) -> Claim:
        """Record ``pushed`` (when given), then claim an item for ``owner`` (none when nothing
        can be claimed now, or the sync was stopped: ``stopped``)."""
        answer: asyncio.Future[Claim] = asyncio.get_running_loop().create_future()
        self._asks.append(_Ask(owner, pushed, answer))
        self._asked.set()
        return await answer

    async def run(self) -> None:
        """Serve the lanes' asks, one round at a time, until cancelled."""
        while True:
            await self._asked.wait()
            self._asked.clear()
            asks, self._asks = self._asks, []
            try:
                answers = await self._round(asks)
            except BaseException as exc:
                for ask in asks:
                    if not ask.answer.done():
                        if isinstance(exc, asyncio.CancelledError):
                            ask.answer.cancel()
                        else:
                            ask.answer.set_exception(exc)
                if isinstance(exc, Exception):
                    continue
                raise
            for ask, found in zip(asks, answers, strict=True):
                ask.answer.set_result(found)

    async def _round(self, asks: list[_Ask]) -> list[Claim]:
        async with self.database.transaction() as session:
            await self._record(session, [a.pushed for a in asks if a.pushed is not None])
            if self.stopped or await repo.stop_requested(session, self.sync_id):
                self.stopped = True
                return [Claim() for _ in asks]
            owners = [a.owner for a in asks]
            claimed = await repo.claim_items(session, self.sync_id, owners, self.lease_seconds)
            if len(claimed) < len(owners) and await repo.recover_stale(session, self.sync_id):
                taken = {row["lease_owner"] for row in claimed}
                rest = [owner for owner in owners if owner not in taken]
                claimed += await repo.claim_items(session, self.sync_id, rest, self.lease_seconds)
            known = await self._known(session, claimed)
            # Lanes left without an item learn when to look again, in the same round (idle
            # lanes asking on their own would each hold a connection of the pool).
            wait = await repo.next_wait(session, self.sync_id) if len(claimed) < len(asks) else 0
        by_owner = {row["lease_owner"]: row for row in claimed}
        return [
            Claim(by_owner[a.owner], known[by_owner[a.owner]["id"]])
            if a.owner in by_owner
            else Claim(wait=wait)
            for a in asks
        ]

    async def _record(self, session: AsyncSession, pushed: list[Pushed]) -> None:
        """Complete the items whose lease is still ours; store their records and counts."""
        if not pushed:
            return
        ours = await repo.complete_items(session, [(p.item["id"], p.owner) for p in pushed])
        done = [p for p in pushed if p.item["id"] in ours]  # the others: another worker's now
        if not done:
            return
        by_type: dict[str, list[dict[str, Any]]] = {}
        errors: list[str] = []
        for p in done:
            by_type.setdefault(p.item["entity_type"], []).extend(p.result.saved + p.result.kept)
            item_errors = [f"{local}: {why}" for local, why in p.result.failed] + p.result.notes
            errors += item_errors[:ERRORS_PER_ITEM]
        for entity_type, rows in by_type.items():
            await repo.save_synced(session, self.venue_id, self.provider, entity_type, rows)
        await repo.add_counts(
            session,
            self.sync_id,
            succeeded=sum(len(p.result.saved) for p in done),
            failed=sum(len(p.result.failed) for p in done),
            skipped=sum(p.result.skipped for p in done),
            api_calls=sum(p.result.api_calls for p in done),
            errors=errors,
            keep=len(errors),
        )

    async def _known(
        self, session: AsyncSession, items: list[dict[str, Any]]
    ) -> dict[uuid.UUID, Known]:
        """Per claimed item, the synced records of its records (and, for transactions, of the
        customers and events they refer to, as ``customer:<id>`` and ``product:<event id>``):
        one query per entity type for all the round's items."""
        wanted: dict[str, set[str]] = {}
        for item in items:
            records = item["payload"]["records"]
            wanted.setdefault(item["entity_type"], set()).update(r["local_id"] for r in records)
            if item["entity_type"] == "transactions":
                for referred_type, field in REFERENCES.values():
                    wanted.setdefault(referred_type, set()).update(str(r[field]) for r in records)
        stored = {
            entity_type: await repo.synced_records(
                session, self.venue_id, self.provider, entity_type, sorted(ids)
            )
            for entity_type, ids in wanted.items()
        }
        known: dict[uuid.UUID, Known] = {}
        for item in items:
            records = item["payload"]["records"]
            rows = stored[item["entity_type"]]
            mine = {r["local_id"]: rows[r["local_id"]] for r in records if r["local_id"] in rows}
            if item["entity_type"] == "transactions":
                for prefix, (referred_type, field) in REFERENCES.items():
                    referred = stored[referred_type]
                    for r in records:
                        if str(r[field]) in referred:
                            mine[f"{prefix}:{r[field]}"] = referred[str(r[field])]
            known[item["id"]] = mine
        return known
