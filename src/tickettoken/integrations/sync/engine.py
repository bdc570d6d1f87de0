"""The ``sync`` job: expand a sync into leased work items, push them, end its log.

0. ``from_provider``/``bidirectional`` customers: first read back what changed at the provider
   and apply it (``customer_pull``: newest change wins, conflicts in ``details.conflicts``), once
   per sync, before the push half is expanded.
1. Expansion (once per sync, page by page while the lanes already push the first items): for
   each entity type, the records changed since the type's cursor (less an overlap, for writes
   that committed late; unchanged records are skipped by hash anyway) become work items of up to
   ``RECORDS_PER_ITEM`` records each (Square products: as many events as fill one 1,000-object
   batch, ``ITEM_WEIGHT``); each page's items and the expansion's progress commit together.
2. Items are claimed with ``FOR UPDATE SKIP LOCKED`` and a lease, by several lanes at once
   (``registry.CONCURRENCY``: a provider's simultaneous connections or what its rate limit
   keeps busy; transactions wait until the sync's customers and products are done); an item whose
   lease lapsed (its worker was killed) returns to ``pending`` and is taken again; a failure
   retries with backoff and goes to ``dead_letter`` past ``max_attempts``. The lanes' claims
   and completions go through the ``ledger``: what they ask at one moment, one transaction.
3. Before each claim the stop flag is read; a stopped sync fails what was still pending.
4. The log ends ``completed`` (every record done; the cursors advance), ``partial`` (some
   succeeded, some failed or stopped) or ``failed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.integrations.connections.clients import ProviderClients
from tickettoken.integrations.connections.credentials import access_credentials
from tickettoken.integrations.connections.errors import (
    ConnectionBroken,
    NotConnected,
    ProviderUnavailable,
)
from tickettoken.integrations.providers import Credentials, Provider, ProviderError
from tickettoken.integrations.sync import repository as repo
from tickettoken.integrations.sync import sources
from tickettoken.integrations.sync.customer_fetch import FETCHERS
from tickettoken.integrations.sync.customer_pull import PullResult, pull_customers
from tickettoken.integrations.sync.ledger import Ledger, Pushed
from tickettoken.integrations.sync.pushers import PushResult
from tickettoken.integrations.sync.registry import (
    CONCURRENCY,
    ITEM_WEIGHT,
    NOTHING_TO_PUSH,
    PUSHERS,
    RECORDS_PER_ITEM,
)
from tickettoken.kit.db import Database
from tickettoken.kit.jobs import JobContext, JobRecord, PermanentJobError, RetryableJobError
from tickettoken.kit.provider_limits import RateLimiter

log = structlog.get_logger(__name__)

LEASE_SECONDS = 60.0
ITEM_MAX_ATTEMPTS = 3
RETRY_BASE_SECONDS = 1.0
IDLE_POLL_SECONDS = 0.2
EXPANSION_PAGE = 2000  # records a page of the expansion reads at most (after the first pages)
CURSOR_OVERLAP = timedelta(seconds=60)
ENTITY_TYPES = {
    "products": ("products",),
    "customers": ("customers",),
    "transactions": ("transactions",),
    # Ordered: invoices need their customers and items synced first (items are claimed in
    # idempotency-key order, and customers < products < transactions).
    "full": ("products", "customers", "transactions"),
}
READERS = {
    "products": sources.changed_products,
    "customers": sources.changed_customers,
    "transactions": sources.changed_transactions,
}
# What comes back from providers (from_provider, bidirectional): customers; the rest is pushed only.
PULLED_TYPES = ("customers",)
PULL_CURSOR = "customers:from_provider"
PULL_PAGE = 100

_clients_override: ProviderClients | None = None


def use_clients(clients: ProviderClients | None) -> None:
    """Provider clients for every sync of the process (tests pass clients with an observer);
    None: each job builds its own on the worker's shared limiter."""
    global _clients_override
    _clients_override = clients


@asynccontextmanager
async def _clients(ctx: JobContext) -> Any:
    if _clients_override is not None:
        yield _clients_override
        return
    limiter = ctx.limiter if isinstance(ctx.limiter, RateLimiter) else None
    clients = ProviderClients(ctx.settings, limiter=limiter)
    try:
        yield clients
    finally:
        await clients.aclose()


def _chunks(records: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]


def _weighed_chunks(
    records: list[dict[str, Any]], limit: int, weigh: Callable[[dict[str, Any]], int]
) -> Iterator[list[dict[str, Any]]]:
    """Records in order, as many per chunk as fit ``limit`` (a heavier record stands alone)."""
    chunk: list[dict[str, Any]] = []
    total = 0
    for record in records:
        weight = weigh(record)
        if chunk and total + weight > limit:
            yield chunk
            chunk, total = [], 0
        chunk.append(record)
        total += weight
    if chunk:
        yield chunk


async def run_sync(ctx: JobContext) -> dict[str, Any]:
    """The ``sync`` job of every provider the engine supports (``services.integration_parts``)."""
    try:
        sync_id = uuid.UUID(str(ctx.payload["sync_id"]))
    except (KeyError, ValueError):
        raise PermanentJobError("sync job needs a sync_id") from None
    database = ctx.database
    async with database.transaction() as session:
        sync = await repo.get_log(session, sync_id, lock=True)
    if sync is None:
        raise PermanentJobError(f"no sync {sync_id}")
    if sync["status"] in ("completed", "partial", "failed"):
        return {"sync_id": str(sync_id), "status": sync["status"]}
    provider_name = sync["integration_type"]
    venue_id = sync["venue_id"]
    async with _clients(ctx) as clients:
        try:
            credentials = await access_credentials(
                database, venue_id, provider_name, clients=clients
            )
        except (NotConnected, ConnectionBroken) as exc:
            return await _end_early(database, sync_id, f"{provider_name}: {exc.message}")
        except ProviderUnavailable as exc:
            raise RetryableJobError(exc.message, retry_after=30) from exc
        provider = await clients.get(provider_name)
        details = dict(sync["details"] or {})
        if "entity_types" not in details:
            details = await _plan(database, sync, details, provider, credentials)
        if details["unsupported"] and not details["entity_types"] and not details.get("pulled"):
            return await _end_early(database, sync_id, "; ".join(details["unsupported"]))
        await _work(database, sync, details, provider, credentials, ctx.worker_id or "worker")
    return await _finish(database, sync_id, details)


async def _end_early(database: Database, sync_id: uuid.UUID, reason: str) -> dict[str, Any]:
    async with database.transaction() as session:
        await repo.add_counts(
            session, sync_id, succeeded=0, failed=0, skipped=0, api_calls=0, errors=[reason]
        )
        await repo.finish_log(session, sync_id, "failed")
    return {"sync_id": str(sync_id), "status": "failed", "reason": reason}


async def _plan(
    database: Database,
    sync: dict[str, Any],
    details: dict[str, Any],
    provider: Provider | None = None,
    credentials: Credentials | None = None,
) -> dict[str, Any]:
    """Which entity types the sync pushes (and the from-provider half, run here once); the
    records are expanded into items afterwards, page by page (``_expand``). ``provider`` and
    ``credentials`` are needed only when the sync reads customers back."""
    provider_name = sync["integration_type"]
    direction = sync["direction"] or "to_provider"
    wanted = ENTITY_TYPES.get(sync["entity_type"] or "", ())
    unsupported: list[str] = []
    one_way = [t for t in wanted if t not in PULLED_TYPES]
    pull = direction in ("from_provider", "bidirectional") and "customers" in wanted
    if direction == "from_provider":
        missing = [f"{t} stay to_provider only: from_provider moves customers" for t in one_way]
        supported: list[str] = []
    else:
        if direction == "bidirectional" and one_way:
            details["note"] = f"{', '.join(one_way)} stay to_provider only: pushed, never read back"
        supported = [t for t in wanted if (provider_name, t) in PUSHERS]
        needless = [
            NOTHING_TO_PUSH[(provider_name, t)]
            for t in wanted
            if (provider_name, t) in NOTHING_TO_PUSH
        ]
        missing = [
            f"{t} to {provider_name} is not supported yet"
            for t in wanted
            if t not in supported and (provider_name, t) not in NOTHING_TO_PUSH
        ]
        if needless:
            details["notes"] = needless
    if sync["entity_type"] == "full":
        if missing:
            details["not_included"] = missing  # a full sync moves what the provider supports
    else:
        unsupported += missing
    if pull and not details.get("pulled"):
        if provider is None or credentials is None:
            raise ValueError("reading customers back needs the provider and its credentials")
        details = await _pull(database, sync, details, provider, credentials)
    details.update(
        entity_types=supported,
        unsupported=unsupported,
        cursors=dict(details.get("cursors") or {}),
        entity_count=int(details.get("pull", {}).get("read", 0)),
        expansion={"types_done": 0},
    )
    async with database.transaction() as session:
        await repo.mark_started(session, sync["sync_id"], details)
    return details


def _item_capacity(provider_name: str, entity_type: str, details: dict[str, Any]) -> int:
    """Records in one work item (for items filled by weight, the registry's estimate)."""
    size = details.get("records_per_item") or RECORDS_PER_ITEM[(provider_name, entity_type)]
    return max(1, int(size))


async def _expand(
    database: Database,
    sync: dict[str, Any],
    details: dict[str, Any],
    provider: Provider | None = None,
    credentials: Credentials | None = None,
    on_page: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """The records changed since each type's cursor, as work items, one page a transaction: a
    page's items and the expansion's progress (the type, the last id put in an item, the next
    item number) are committed together, so a job run again after a crash goes on where the
    last committed page ended. The first page holds one item's worth of records; pages then
    double up to ``EXPANSION_PAGE``. A page reads one record more than it keeps: the chunk
    holding that record is left for the next page, so every item but the last is full."""
    if "entity_types" not in details:
        details = await _plan(database, sync, details, provider, credentials)
    provider_name, venue_id, sync_id = (
        sync["integration_type"],
        sync["venue_id"],
        sync["sync_id"],
    )
    progress: dict[str, Any] = details["expansion"]
    types: list[str] = details["entity_types"]
    while progress["types_done"] < len(types):
        entity_type = types[progress["types_done"]]
        capacity = _item_capacity(provider_name, entity_type, details)
        weighed = (
            None
            if details.get("records_per_item")
            else ITEM_WEIGHT.get((provider_name, entity_type))
        )
        limit = max(capacity, int(progress.get("limit") or 0))
        async with database.transaction() as session:
            if progress.get("type") != entity_type:
                since = await repo.get_cursor(session, venue_id, provider_name, entity_type)
                snapshot = await repo.db_now(session)
                progress.update(
                    type=entity_type,
                    since=(since - CURSOR_OVERLAP).isoformat() if since else None,
                    snapshot=snapshot.isoformat(),
                    after=None,
                    items=0,
                    limit=capacity,
                )
                limit = capacity
            since_at = datetime.fromisoformat(progress["since"]) if progress["since"] else None
            records = await READERS[entity_type](
                session, venue_id, since_at, progress["after"], limit + 1
            )
            more = len(records) > limit
            chunks = (
                list(_weighed_chunks(records, *weighed))
                if weighed
                else list(_chunks(records, capacity))
            )
            if more:
                chunks.pop()  # holds the extra record: read again by the next page
                if not chunks:  # a page too small for one whole item: read a larger one
                    progress["limit"] = limit * 2
                    continue
            await repo.add_items(
                session,
                sync_id=sync_id,
                venue_id=venue_id,
                provider=provider_name,
                entity_type=entity_type,
                chunks=chunks,
                max_attempts=ITEM_MAX_ATTEMPTS,
                first_number=int(progress["items"]),
            )
            kept = sum(len(chunk) for chunk in chunks)
            progress.update(
                after=chunks[-1][-1]["local_id"] if chunks else progress["after"],
                items=int(progress["items"]) + len(chunks),
                limit=min(max(limit * 2, capacity), max(EXPANSION_PAGE, capacity)),
            )
            details["entity_count"] = int(details["entity_count"]) + kept
            if not more:
                details["cursors"][entity_type] = progress["snapshot"]
                progress.update(types_done=progress["types_done"] + 1, type=None)
            if progress["types_done"] == len(types):
                details["expanded"] = True
            await repo.mark_started(session, sync_id, details)
        on_page()
    if not types:
        details["expanded"] = True
    return details


async def _pull(
    database: Database,
    sync: dict[str, Any],
    details: dict[str, Any],
    provider: Provider,
    credentials: Credentials,
) -> dict[str, Any]:
    """The from-provider half (customers): read what changed at the provider since the pull
    cursor, apply it page by page, then record counts and conflicts in the log, once."""
    provider_name, venue_id, sync_id = (
        sync["integration_type"],
        sync["venue_id"],
        sync["sync_id"],
    )
    async with database.transaction() as session:
        since = await repo.get_cursor(session, venue_id, provider_name, PULL_CURSOR)
        snapshot = await repo.db_now(session)
    result = PullResult()
    errors: list[str] = []
    calls = 0
    read = 0
    try:
        fetched = await FETCHERS[provider_name](
            provider, credentials, since - CURSOR_OVERLAP if since else None
        )
    except ProviderError as exc:
        if exc.retryable:
            raise RetryableJobError(str(exc), retry_after=exc.retry_after or 5) from exc
        errors.append(f"customers from {provider_name}: {exc}")
        result.failed.append(str(exc))
    else:
        calls, read = fetched.api_calls, len(fetched.customers)
        if fetched.note:
            details["pull_note"] = fetched.note
        for start in range(0, read, PULL_PAGE):
            async with database.transaction() as session:
                page = fetched.customers[start : start + PULL_PAGE]
                result.add(await pull_customers(session, venue_id, provider_name, page))
        errors += result.failed + result.notes
    pull_cursors = {} if errors and not read else {PULL_CURSOR: snapshot.isoformat()}
    details.update(
        pulled=True,
        pull={
            "read": read,
            "applied": result.applied,
            "imported": result.imported,
            "unchanged": result.unchanged,
            "unmatched": result.unmatched,
            "kept_platform": result.kept_platform,
            "conflicts": len(result.conflicts),
        },
        conflicts=result.conflicts,
        cursors={**(details.get("cursors") or {}), **pull_cursors},
    )
    async with database.transaction() as session:
        await repo.add_counts(
            session,
            sync_id,
            succeeded=result.applied + result.imported,
            failed=len(result.failed),
            skipped=result.unchanged + result.unmatched + result.kept_platform,
            api_calls=calls,
            errors=errors,
        )
        await repo.mark_started(session, sync_id, details)
    return details


async def _work(
    database: Database,
    sync: dict[str, Any],
    details: dict[str, Any],
    provider: Provider,
    credentials: Credentials,
    worker_id: str,
) -> None:
    """The expansion (what is left of it) and ``CONCURRENCY[provider]`` lanes at once: the lanes
    push the items already expanded, each under its own lease owner (so the completion's
    fencing holds between lanes as between workers), while the rest is read; the provider
    limiter paces their calls, the ledger batches their claims and completions. A task that
    fails unexpectedly stops the others."""
    sync_id, venue_id = sync["sync_id"], sync["venue_id"]
    base = f"{worker_id}:{uuid.uuid4().hex[:8]}"
    done = _Wakeup()

    async def expand() -> None:
        try:
            if not details.get("expanded"):
                await _expand(database, sync, details, on_page=done.notify)
        finally:
            done.expanded = True
            done.notify()

    ledger = Ledger(database, sync_id, venue_id, provider.name, LEASE_SECONDS)
    served = asyncio.create_task(ledger.run())
    tasks = [asyncio.create_task(expand())] + [
        asyncio.create_task(
            _lane(database, ledger, sync_id, venue_id, provider, credentials, f"{base}:{n}", done)
        )
        for n in range(max(1, CONCURRENCY.get(provider.name, 1)))
    ]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        served.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await served


class _Wakeup:
    """Idle lanes wait here for another lane to finish an item (it may have been the last,
    or the dependency transactions wait for) or for the expansion's next page, instead of
    sleeping up to a second."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.expanded = False  # every item of the sync exists
        self.finished = False  # a lane saw every item finished: the others stop without a query

    def notify(self) -> None:
        event, self.event = self.event, asyncio.Event()
        event.set()

    async def wait(self, seconds: float, since: asyncio.Event | None = None) -> None:
        """``since``: the event read before the lane looked for work, so a notification that
        came meanwhile is not missed."""
        event = since or self.event
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()


async def _lane(
    database: Database,
    ledger: Ledger,
    sync_id: uuid.UUID,
    venue_id: uuid.UUID,
    provider: Provider,
    credentials: Credentials,
    owner: str,
    done: _Wakeup,
) -> None:
    pushed: Pushed | None = None  # recorded with the next claim, in the same round
    while not done.finished:
        # Read before the claim: a page expanded or an item finished after it wakes the lane.
        expanded, since = done.expanded, done.event
        claim = await ledger.next(owner, pushed)
        item, known, wait = claim.item, claim.known, claim.wait
        if pushed is not None:
            pushed = None
            done.notify()
        if ledger.stopped:
            return
        if item is None:
            if not expanded:  # the expansion's next page (or its end) wakes the lane
                await done.wait(1.0, since)
                continue
            if wait is None:
                done.finished = True
                done.notify()
                return
            # Another lane's item, a retry's delay or a dependency (transactions wait for
            # their customers and products): look again when a lane finishes an item, or
            # after the wait (a retry's delay, another worker's lease), at most a second.
            await done.wait(min(max(wait, IDLE_POLL_SECONDS), 1.0), since)
            continue
        result = await _push(database, sync_id, venue_id, provider, credentials, item, owner, known)
        if result is None:
            done.notify()  # failed: recorded already
        else:
            pushed = Pushed(item, owner, result)


@asynccontextmanager
async def _lease_kept(database: Database, item_id: uuid.UUID, owner: str) -> Any:
    """Renew the item's lease every third of it while its provider calls run (a slow provider
    or its rate limit must not hand a live item to another worker); a dead worker renews
    nothing, so its lease lapses."""

    async def renew() -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            async with database.transaction() as session:
                await repo.renew_lease(session, item_id, owner, LEASE_SECONDS)

    task = asyncio.create_task(renew())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def _push(
    database: Database,
    sync_id: uuid.UUID,
    venue_id: uuid.UUID,
    provider: Provider,
    credentials: Credentials,
    item: dict[str, Any],
    owner: str,
    known: dict[str, dict[str, Any]],
) -> PushResult | None:
    """The item's push; its result goes to the ledger. A failure is recorded here (retry with
    backoff, or dead_letter with its records counted failed): None."""
    entity_type = item["entity_type"]
    records: list[dict[str, Any]] = item["payload"]["records"]
    push = PUSHERS[(provider.name, entity_type)]
    backoff = RETRY_BASE_SECONDS * 2 ** (item["attempts"] - 1)
    try:
        async with _lease_kept(database, item["id"], owner):
            return await push(provider, credentials, venue_id, records, known)
    except Exception as exc:
        if isinstance(exc, ProviderError):
            retry_in = max(exc.retry_after or 0, backoff) if exc.retryable else None
        else:
            retry_in = backoff
        async with database.transaction() as session:
            status = await repo.fail_item(session, item, owner, str(exc), retry_in)
            if status == "dead_letter":
                await repo.add_counts(
                    session,
                    sync_id,
                    succeeded=0,
                    failed=len(records),
                    skipped=0,
                    api_calls=1,
                    errors=[str(exc)],
                )
        log.warning(
            "sync_item_failed",
            sync_id=str(sync_id),
            status=status,
            error=f"{type(exc).__name__}: {exc}",
        )
        return None


async def _finish(
    database: Database, sync_id: uuid.UUID, details: dict[str, Any]
) -> dict[str, Any]:
    async with database.transaction() as session:
        sync = await repo.get_log(session, sync_id, lock=True)
        assert sync is not None
        if sync["status"] in ("completed", "partial", "failed"):
            return {"sync_id": str(sync_id), "status": sync["status"]}
        stopped = sync["stop_requested_at"] is not None
        not_done = 0
        if stopped:
            await repo.fail_pending(session, sync_id, "stopped")
            not_done = await repo.records_in_items(session, sync_id, ("failed",))
            if not_done:
                await repo.add_counts(
                    session,
                    sync_id,
                    succeeded=0,
                    failed=not_done,
                    skipped=0,
                    api_calls=0,
                    errors=[f"stopped: {not_done} records not sent"],
                )
        succeeded = int(sync["success_count"] or 0)
        skipped = int(sync["skip_count"] or 0)
        failed = int(sync["error_count"] or 0) + not_done
        if not (failed or not_done or stopped or details.get("unsupported")):
            status = "completed"
        elif succeeded or skipped:
            status = "partial"
        else:
            status = "failed"
        if status == "completed":
            for entity_type, at in details.get("cursors", {}).items():
                await repo.advance_cursor(
                    session,
                    sync["venue_id"],
                    sync["integration_type"],
                    entity_type,
                    datetime.fromisoformat(at),
                    sync_id,
                )
            await repo.touch_config(session, sync["venue_id"], sync["integration_type"])
        if details.get("notes"):
            await repo.add_counts(
                session,
                sync_id,
                succeeded=0,
                failed=0,
                skipped=0,
                api_calls=0,
                errors=list(details["notes"]),
            )
        if details.get("unsupported"):
            await repo.add_counts(
                session,
                sync_id,
                succeeded=0,
                failed=0,
                skipped=0,
                api_calls=0,
                errors=list(details["unsupported"]),
            )
        await repo.finish_log(session, sync_id, status)
    return {
        "sync_id": str(sync_id),
        "status": status,
        "succeeded": succeeded,
        "failed": failed,
        "skipped": skipped,
        "stopped": stopped,
    }


async def on_sync_failed(session: AsyncSession, job: JobRecord, error: str) -> None:
    """The job failed for good (crashes past its attempts, timeout): its log still ends, failed
    (partial when some records were written), never left ``started``."""
    try:
        sync_id = uuid.UUID(str(job.payload.get("sync_id")))
    except ValueError:
        return
    sync = await repo.get_log(session, sync_id, lock=True)
    if sync is None or sync["status"] in ("completed", "partial", "failed"):
        return
    await repo.fail_pending(session, sync_id, f"sync job failed: {error}"[:500])
    await repo.add_counts(
        session,
        sync_id,
        succeeded=0,
        failed=0,
        skipped=0,
        api_calls=0,
        errors=[f"sync job failed: {error}"[:500]],
    )
    await repo.finish_log(session, sync_id, "partial" if sync["success_count"] else "failed")


SYNC_IMPLEMENTATIONS = {name: run_sync for name in ("square", "stripe", "mailchimp", "quickbooks")}
