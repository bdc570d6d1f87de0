"""The sync routes' work (SPEC 5.2): start a sync (a ``sync_logs`` row and its job, committed
together; the request never does the work), show its status and history, stop and retry it.
Scoped to the caller's venues exactly as the connection routes: another venue answers 404."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.integrations.connections import repository as connections
from tickettoken.integrations.connections.errors import ConnectionBroken, NotConnected
from tickettoken.integrations.connections.service import scoped_venue
from tickettoken.integrations.sync import repository as repo
from tickettoken.integrations.sync.schemas import (
    FINISHED,
    RUNNING,
    SyncConflict,
    SyncStarted,
    SyncView,
    WorkItemCounts,
)
from tickettoken.kit.auth import Principal
from tickettoken.kit.errors import Conflict, NotFound
from tickettoken.kit.jobs import enqueue


async def _connected(session: AsyncSession, venue_id: uuid.UUID, provider: str) -> None:
    config = await connections.get_config(session, venue_id, provider)
    if config is not None and config.status == "error":
        raise ConnectionBroken()
    if config is None or config.status != "connected":
        raise NotConnected("Integration not connected")


async def _view(session: AsyncSession, sync: dict[str, Any]) -> SyncView:
    counts = await repo.item_counts(session, sync["sync_id"])
    ok, failed, skipped = (
        int(sync[k] or 0) for k in ("success_count", "error_count", "skip_count")
    )
    return SyncView(
        sync_id=sync["sync_id"],
        provider=sync["integration_type"],
        venue_id=sync["venue_id"],
        sync_type=sync["entity_type"] or "",
        direction=sync["direction"] or "to_provider",
        status=sync["status"],
        processed=ok + failed + skipped,
        succeeded=ok,
        failed=failed,
        skipped=skipped,
        entity_count=sync["entity_count"],
        api_calls=sync["api_calls_made"],
        stop_requested=sync["stop_requested_at"] is not None,
        started_at=sync["started_at"],
        completed_at=sync["completed_at"],
        duration_ms=sync["duration_ms"],
        errors=[str(e) for e in (sync["errors"] or [])][:20],
        work_items=WorkItemCounts(**counts),
        conflicts=[SyncConflict(**c) for c in (sync["details"] or {}).get("conflicts") or []],
        notes=[str(n) for n in (sync["details"] or {}).get("notes") or []],
    )


async def queue_sync(
    session: AsyncSession,
    venue_id: uuid.UUID,
    provider: str,
    sync_type: str,
    direction: str,
    details: dict[str, Any],
) -> SyncStarted:
    """A ``sync_logs`` row and its ``sync`` job, in the caller's transaction (the routes, the
    scheduler); 409 while another sync of the connection runs."""
    running = await repo.latest_log(session, venue_id, provider, RUNNING)
    if running is not None:
        raise Conflict(f"Sync {running['sync_id']} is still running; stop it or wait")
    sync = await repo.insert_log(
        session,
        venue_id=venue_id,
        provider=provider,
        sync_type=sync_type,
        direction=direction,
        details=details,
    )
    job = await enqueue(
        session,
        queue="communication",
        type="sync",
        payload={"provider": provider, "venue_id": str(venue_id), "sync_id": str(sync["sync_id"])},
        idempotency_key=f"sync:{sync['sync_id']}",
        venue_id=str(venue_id),
    )
    return SyncStarted(
        sync_id=sync["sync_id"],
        job_id=job.job_id,
        provider=provider,
        venue_id=venue_id,
        sync_type=sync_type,
        direction=direction,
        status="pending",
    )


async def start(
    session: AsyncSession,
    principal: Principal,
    provider: str,
    venue_id: uuid.UUID,
    sync_type: str,
    direction: str,
    *,
    records_per_item: int | None = None,
) -> SyncStarted:
    venue = scoped_venue(principal, venue_id, manage=True)
    await _connected(session, venue, provider)
    details: dict[str, Any] = {}
    if records_per_item:
        details["records_per_item"] = records_per_item
    return await queue_sync(session, venue, provider, sync_type, direction, details)


async def status(
    session: AsyncSession, principal: Principal, provider: str, venue_id: uuid.UUID | None
) -> SyncView:
    venue = scoped_venue(principal, venue_id, manage=False)
    sync = await repo.latest_log(session, venue, provider)
    if sync is None:
        raise NotFound("No sync yet")
    return await _view(session, sync)


async def history(
    session: AsyncSession,
    principal: Principal,
    provider: str,
    venue_id: uuid.UUID | None,
    limit: int,
    offset: int,
) -> tuple[list[SyncView], int]:
    venue = scoped_venue(principal, venue_id, manage=False)
    rows, total = await repo.history(session, venue, provider, limit, offset)
    return [await _view(session, row) for row in rows], total


async def stop(
    session: AsyncSession, principal: Principal, provider: str, venue_id: uuid.UUID
) -> SyncView:
    venue = scoped_venue(principal, venue_id, manage=True)
    sync = await repo.latest_log(session, venue, provider, RUNNING)
    if sync is None:
        raise NotFound("No running sync")
    await repo.request_stop(session, sync["sync_id"])
    found = await repo.get_log(session, sync["sync_id"])
    assert found is not None
    return await _view(session, found)


async def retry(
    session: AsyncSession, principal: Principal, provider: str, venue_id: uuid.UUID
) -> SyncStarted:
    """The last sync again when it ended failed or partial: a new sync of the same type and
    direction. The cursor did not move, so it finds the same records; those already written are
    skipped by their hash, so only what failed (or was never sent) is pushed."""
    venue = scoped_venue(principal, venue_id, manage=True)
    await _connected(session, venue, provider)
    last = await repo.latest_log(session, venue, provider, FINISHED + RUNNING)
    if last is None or last["status"] in RUNNING:
        raise Conflict("A sync is running" if last else "No sync to retry")
    if last["status"] == "completed":
        raise Conflict("The last sync completed; nothing to retry")
    details: dict[str, Any] = {"retry_of": str(last["sync_id"])}
    size = (last["details"] or {}).get("records_per_item")
    if size:
        details["records_per_item"] = size
    return await queue_sync(
        session,
        venue,
        provider,
        last["entity_type"] or "full",
        last["direction"] or "to_provider",
        details,
    )
