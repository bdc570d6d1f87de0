"""SQL of the sync engine: sync logs, leased work items (``sync_queue``), the provider ids of
synced records and the incremental cursors. Columns added by revision 0014 are used through SQL
here (the shared ORM models keep the original columns)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# --- sync logs ---------------------------------------------------------------------------------

LOG_COLUMNS = (
    "id, sync_id, venue_id, integration_type, operation, entity_type, entity_count, status,"
    " success_count, error_count, skip_count, duration_ms, api_calls_made, details, errors,"
    " started_at, completed_at, direction, stop_requested_at"
)


async def insert_log(
    session: AsyncSession,
    *,
    venue_id: uuid.UUID,
    provider: str,
    sync_type: str,
    direction: str,
    details: dict[str, Any],
) -> dict[str, Any]:
    sync_id = uuid.uuid4()
    row = await session.execute(
        text(
            "INSERT INTO sync_logs (id, sync_id, venue_id, integration_type, operation,"
            " entity_type, status, direction, details, errors, started_at)"
            " VALUES (:id, :id, :venue, :provider, :operation, :sync_type, 'pending', :direction,"
            f" CAST(:details AS jsonb), '[]'::jsonb, now()) RETURNING {LOG_COLUMNS}"
        ),
        {
            "id": sync_id,
            "venue": venue_id,
            "provider": provider,
            "operation": f"sync:{sync_type}",
            "sync_type": sync_type,
            "direction": direction,
            "details": json.dumps(details),
        },
    )
    return dict(row.mappings().one())


async def get_log(
    session: AsyncSession, sync_id: uuid.UUID, *, lock: bool = False
) -> dict[str, Any] | None:
    sql = f"SELECT {LOG_COLUMNS} FROM sync_logs WHERE sync_id = :s"
    row = await session.execute(text(sql + (" FOR UPDATE" if lock else "")), {"s": sync_id})
    found = row.mappings().first()
    return dict(found) if found else None


async def latest_log(
    session: AsyncSession, venue_id: uuid.UUID, provider: str, statuses: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    where = " AND status = ANY(:statuses)" if statuses else ""
    row = await session.execute(
        text(
            f"SELECT {LOG_COLUMNS} FROM sync_logs WHERE venue_id = :venue"
            f" AND integration_type = :provider AND sync_id IS NOT NULL{where}"
            " ORDER BY started_at DESC, id DESC LIMIT 1"
        ),
        {"venue": venue_id, "provider": provider, "statuses": list(statuses)},
    )
    found = row.mappings().first()
    return dict(found) if found else None


async def history(
    session: AsyncSession, venue_id: uuid.UUID, provider: str, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    params = {"venue": venue_id, "provider": provider, "limit": limit, "offset": offset}
    where = "venue_id = :venue AND integration_type = :provider AND sync_id IS NOT NULL"
    rows = await session.execute(
        text(
            f"SELECT {LOG_COLUMNS} FROM sync_logs WHERE {where}"
            " ORDER BY started_at DESC, id DESC LIMIT :limit OFFSET :offset"
        ),
        params,
    )
    total = await session.scalar(text(f"SELECT count(*) FROM sync_logs WHERE {where}"), params)
    return [dict(r) for r in rows.mappings()], int(total or 0)


async def request_stop(session: AsyncSession, sync_id: uuid.UUID) -> None:
    await session.execute(
        text(
            "UPDATE sync_logs SET stop_requested_at = coalesce(stop_requested_at, now())"
            " WHERE sync_id = :s"
        ),
        {"s": sync_id},
    )


async def mark_started(session: AsyncSession, sync_id: uuid.UUID, details: dict[str, Any]) -> None:
    await session.execute(
        text(
            "UPDATE sync_logs SET status = 'started', details = CAST(:d AS jsonb),"
            " entity_count = :count WHERE sync_id = :s"
        ),
        {"s": sync_id, "d": json.dumps(details), "count": details.get("entity_count")},
    )


async def add_counts(
    session: AsyncSession,
    sync_id: uuid.UUID,
    *,
    succeeded: int,
    failed: int,
    skipped: int,
    api_calls: int,
    errors: list[str],
    keep: int = 20,
) -> None:
    """``keep``: how many of ``errors`` the log keeps (a work item's first 20)."""
    await session.execute(
        text(
            "UPDATE sync_logs SET success_count = coalesce(success_count, 0) + :ok,"
            " error_count = coalesce(error_count, 0) + :failed,"
            " skip_count = coalesce(skip_count, 0) + :skipped,"
            " api_calls_made = coalesce(api_calls_made, 0) + :calls,"
            " errors = coalesce(errors, '[]'::jsonb) || CAST(:errors AS jsonb)"
            " WHERE sync_id = :s"
        ),
        {
            "s": sync_id,
            "ok": succeeded,
            "failed": failed,
            "skipped": skipped,
            "calls": api_calls,
            "errors": json.dumps(errors[:keep]),
        },
    )


async def finish_log(session: AsyncSession, sync_id: uuid.UUID, status: str) -> None:
    await session.execute(
        text(
            "UPDATE sync_logs SET status = :status, completed_at = now(),"
            " duration_ms = (extract(epoch FROM now() - started_at) * 1000)::integer"
            " WHERE sync_id = :s"
        ),
        {"s": sync_id, "status": status},
    )


# --- work items --------------------------------------------------------------------------------


ADD_ITEM = text(
    "INSERT INTO sync_queue (venue_id, integration_type, operation_type, entity_type,"
    " entity_id, payload, idempotency_key, status, max_attempts, correlation_id,"
    " sync_id) VALUES (:venue, :provider, 'sync', :entity, :first,"
    " CAST(:payload AS jsonb), :key, 'pending', :max, :sid, :s)"
    " ON CONFLICT (idempotency_key) DO NOTHING"
)


async def add_items(
    session: AsyncSession,
    *,
    sync_id: uuid.UUID,
    venue_id: uuid.UUID,
    provider: str,
    entity_type: str,
    chunks: list[list[dict[str, Any]]],
    max_attempts: int,
    first_number: int = 0,
) -> None:
    """One work item per batch of records, numbered from ``first_number`` (one statement for
    all); a second expansion of the same page adds nothing."""
    if not chunks:
        return
    await session.execute(
        ADD_ITEM,
        [
            {
                "venue": venue_id,
                "provider": provider,
                "entity": entity_type,
                "first": records[0]["local_id"],
                "payload": json.dumps({"records": records}),
                "key": f"sync:{sync_id}:{entity_type}:{number}",
                "max": max_attempts,
                "sid": str(sync_id),
                "s": sync_id,
            }
            for number, records in enumerate(chunks, start=first_number)
        ],
    )


async def recover_stale(session: AsyncSession, sync_id: uuid.UUID) -> int:
    """Items whose worker's lease lapsed (it died) return to pending."""
    done = await session.execute(
        text(
            "UPDATE sync_queue SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL"
            " WHERE sync_id = :s AND status = 'processing' AND lease_expires_at < now()"
        ),
        {"s": sync_id},
    )
    return int(getattr(done, "rowcount", 0) or 0)


CLAIMABLE = """
    SELECT id, idempotency_key FROM sync_queue
    WHERE sync_id = :s AND status = 'pending'
      AND (next_retry_at IS NULL OR next_retry_at <= now())
      -- transactions refer to the customers and items the other types sync
      AND (entity_type <> 'transactions' OR NOT EXISTS (
          SELECT 1 FROM sync_queue d WHERE d.sync_id = :s
            AND d.entity_type <> 'transactions'
            AND d.status IN ('pending', 'processing')))
    ORDER BY idempotency_key
    FOR UPDATE SKIP LOCKED
"""
CLAIMED = """
    UPDATE sync_queue q SET status = 'processing', attempts = q.attempts + 1,
        lease_owner = {owner}, started_at = now(),
        lease_expires_at = now() + make_interval(secs => :lease)
    FROM next WHERE q.id = next.id
    RETURNING q.id, q.entity_type, q.payload, q.attempts, q.max_attempts,
        q.idempotency_key, q.lease_owner
"""


async def claim_item(
    session: AsyncSession, sync_id: uuid.UUID, owner: str, lease_seconds: float
) -> dict[str, Any] | None:
    row = await session.execute(
        text(f"WITH next AS ({CLAIMABLE} LIMIT 1) {CLAIMED.format(owner=':owner')}"),
        {"s": sync_id, "owner": owner, "lease": lease_seconds},
    )
    found = row.mappings().first()
    return dict(found) if found else None


async def claim_items(
    session: AsyncSession, sync_id: uuid.UUID, owners: list[str], lease_seconds: float
) -> list[dict[str, Any]]:
    """Up to ``len(owners)`` items in one statement, in key order, the n-th leased to the n-th
    owner (``lease_owner`` in each returned row)."""
    rows = await session.execute(
        text(
            f"WITH next AS (SELECT id, row_number() OVER (ORDER BY idempotency_key) AS n"
            f" FROM ({CLAIMABLE} LIMIT :limit) c)"
            f" {CLAIMED.format(owner='(CAST(:owners AS text[]))[CAST(next.n AS integer)]')}"
        ),
        {"s": sync_id, "owners": owners, "limit": len(owners), "lease": lease_seconds},
    )
    return [dict(row) for row in rows.mappings()]


async def renew_lease(
    session: AsyncSession, item_id: uuid.UUID, owner: str, lease_seconds: float
) -> None:
    await session.execute(
        text(
            "UPDATE sync_queue SET lease_expires_at = now() + make_interval(secs => :lease)"
            " WHERE id = :id AND status = 'processing' AND lease_owner = :owner"
        ),
        {"id": item_id, "owner": owner, "lease": lease_seconds},
    )


async def complete_item(session: AsyncSession, item_id: uuid.UUID, owner: str) -> bool:
    """Only while the lease is ours: an item taken over by another worker is not finished twice."""
    done = await session.execute(
        text(
            "UPDATE sync_queue SET status = 'completed', completed_at = now(),"
            " lease_owner = NULL, lease_expires_at = NULL"
            " WHERE id = :id AND status = 'processing' AND lease_owner = :owner"
        ),
        {"id": item_id, "owner": owner},
    )
    return bool(getattr(done, "rowcount", 0))


async def complete_items(
    session: AsyncSession, leases: list[tuple[uuid.UUID, str]]
) -> set[uuid.UUID]:
    """``complete_item`` for several (item, owner) leases in one statement: the ids of those
    still ours, now completed."""
    if not leases:
        return set()
    rows = await session.execute(
        text(
            "UPDATE sync_queue SET status = 'completed', completed_at = now(),"
            " lease_owner = NULL, lease_expires_at = NULL"
            " WHERE status = 'processing' AND (id, lease_owner) IN ("
            " SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:owners AS text[])))"
            " RETURNING id"
        ),
        {"ids": [item for item, _ in leases], "owners": [owner for _, owner in leases]},
    )
    return {row[0] for row in rows}


async def stop_requested(session: AsyncSession, sync_id: uuid.UUID) -> bool:
    """True when the sync was stopped (or its log is gone)."""
    found = await session.execute(
        text("SELECT stop_requested_at FROM sync_logs WHERE sync_id = :s"), {"s": sync_id}
    )
    row = found.first()
    return row is None or row[0] is not None


async def fail_item(
    session: AsyncSession, item: dict[str, Any], owner: str, error: str, retry_in: float | None
) -> str:
    """Back to pending after ``retry_in`` seconds, or dead_letter past max_attempts (or when the
    failure is permanent: ``retry_in`` None)."""
    dead = retry_in is None or item["attempts"] >= (item["max_attempts"] or 1)
    status = "dead_letter" if dead else "pending"
    await session.execute(
        text(
            "UPDATE sync_queue SET status = :status, last_error = :error,"
            " error_count = coalesce(error_count, 0) + 1, lease_owner = NULL,"
            " lease_expires_at = NULL,"
            " next_retry_at = now() + make_interval(secs => :wait)"
            " WHERE id = :id AND lease_owner = :owner"
        ),
        {
            "id": item["id"],
            "owner": owner,
            "status": status,
            "error": error[:1000],
            "wait": retry_in or 0,
        },
    )
    return status


async def fail_pending(session: AsyncSession, sync_id: uuid.UUID, reason: str) -> int:
    """A stopped sync: what was not done yet ends failed (the retry route takes it again)."""
    done = await session.execute(
        text(
            "UPDATE sync_queue SET status = 'failed', last_error = :reason"
            " WHERE sync_id = :s AND status = 'pending'"
        ),
        {"s": sync_id, "reason": reason},
    )
    return int(getattr(done, "rowcount", 0) or 0)


async def item_counts(session: AsyncSession, sync_id: uuid.UUID) -> dict[str, int]:
    rows = await session.execute(
        text("SELECT status, count(*) AS n FROM sync_queue WHERE sync_id = :s GROUP BY status"),
        {"s": sync_id},
    )
    return {row["status"]: int(row["n"]) for row in rows.mappings()}


async def records_in_items(
    session: AsyncSession, sync_id: uuid.UUID, statuses: tuple[str, ...]
) -> int:
    found = await session.scalar(
        text(
            "SELECT coalesce(sum(jsonb_array_length(payload->'records')), 0) FROM sync_queue"
            " WHERE sync_id = :s AND status = ANY(:st)"
        ),
        {"s": sync_id, "st": list(statuses)},
    )
    return int(found or 0)


async def next_wait(session: AsyncSession, sync_id: uuid.UUID) -> float | None:
    """Seconds until an unfinished item may be claimed (a retry's delay, another worker's
    lease); None when every item is finished."""
    found = await session.execute(
        text(
            "SELECT min(greatest(extract(epoch FROM coalesce(CASE WHEN status = 'processing'"
            " THEN lease_expires_at ELSE next_retry_at END, now()) - now()), 0)) AS wait,"
            " count(*) AS n FROM sync_queue"
            " WHERE sync_id = :s AND status IN ('pending', 'processing')"
        ),
        {"s": sync_id},
    )
    row = found.mappings().one()
    return None if not row["n"] else float(row["wait"] or 0)


# --- synced records and cursors ----------------------------------------------------------------


async def synced_records(
    session: AsyncSession, venue_id: uuid.UUID, provider: str, entity_type: str, ids: list[str]
) -> dict[str, dict[str, Any]]:
    # A join with the ids, not ``local_id = ANY(:ids)``: with a parameter array PostgreSQL may
    # plan a scan of the venue's rows that compares each with every id (no hashing for a
    # parameter): 0.1-0.5 s for a round's 3,000 ids among 20,000 rows, measured in
    # bench/sync_throughput.py. The join probes the key or hashes the ids.
    rows = await session.execute(
        text(
            "SELECT s.local_id, remote_id, remote_version, content_hash, remote_data"
            " FROM integration_synced_records s"
            " JOIN unnest(CAST(:ids AS text[])) AS wanted(local_id)"
            " ON s.local_id = wanted.local_id"
            " WHERE venue_id = :venue AND provider = :provider AND entity_type = :entity"
        ),
        {"venue": venue_id, "provider": provider, "entity": entity_type, "ids": ids},
    )
    keys = list(rows.keys())  # not dict(RowMapping): it builds its key view again per row
    return {row[0]: dict(zip(keys, row, strict=True)) for row in rows}


SAVE_SYNCED = text(
    "INSERT INTO integration_synced_records (venue_id, provider, entity_type,"
    " local_id, remote_id, remote_version, content_hash, remote_data, synced_at)"
    " SELECT :venue, :provider, :entity, r.local_id, r.remote_id, r.version, r.hash,"
    " CAST(r.data AS jsonb), now() FROM unnest(CAST(:locals AS text[]),"
    " CAST(:remotes AS text[]), CAST(:versions AS text[]), CAST(:hashes AS text[]),"
    " CAST(:datas AS text[])) AS r(local_id, remote_id, version, hash, data)"
    " ON CONFLICT (venue_id, provider, entity_type, local_id) DO UPDATE SET"
    " remote_id = EXCLUDED.remote_id, remote_version = EXCLUDED.remote_version,"
    " content_hash = EXCLUDED.content_hash, remote_data = EXCLUDED.remote_data,"
    " synced_at = now()"
)


async def save_synced(
    session: AsyncSession,
    venue_id: uuid.UUID,
    provider: str,
    entity_type: str,
    saved: list[dict[str, Any]],
) -> None:
    """One statement for any number of records, their columns sent as arrays: not a round
    trip per record (a 500-member Mailchimp item spent most of its time there), nor an
    executemany's bind per row (bench/sync_throughput.py). A record given twice keeps its
    last values (an upsert may touch a row once per statement)."""
    if not saved:
        return
    rows = list({record["local_id"]: record for record in saved}.values())
    await session.execute(
        SAVE_SYNCED,
        {
            "venue": venue_id,
            "provider": provider,
            "entity": entity_type,
            "locals": [r["local_id"] for r in rows],
            "remotes": [r["remote_id"] for r in rows],
            "versions": [
                None if r.get("remote_version") is None else str(r["remote_version"]) for r in rows
            ],
            "hashes": [r["content_hash"] for r in rows],
            "datas": [json.dumps(r.get("remote_data") or {}) for r in rows],
        },
    )


async def get_cursor(
    session: AsyncSession, venue_id: uuid.UUID, provider: str, entity_type: str
) -> datetime | None:
    found = await session.scalar(
        text(
            "SELECT cursor_at FROM integration_sync_cursors WHERE venue_id = :venue"
            " AND provider = :provider AND entity_type = :entity"
        ),
        {"venue": venue_id, "provider": provider, "entity": entity_type},
    )
    return found if isinstance(found, datetime) else None


async def db_now(session: AsyncSession) -> datetime:
    found = await session.scalar(text("SELECT clock_timestamp()"))
    assert isinstance(found, datetime)
    return found


async def advance_cursor(
    session: AsyncSession,
    venue_id: uuid.UUID,
    provider: str,
    entity_type: str,
    cursor_at: datetime,
    sync_id: uuid.UUID,
) -> None:
    await session.execute(
        text(
            "INSERT INTO integration_sync_cursors (venue_id, provider, entity_type, cursor_at,"
            " sync_id) VALUES (:venue, :provider, :entity, :at, :s)"
            " ON CONFLICT (venue_id, provider, entity_type) DO UPDATE SET"
            " cursor_at = greatest(integration_sync_cursors.cursor_at, EXCLUDED.cursor_at),"
            " sync_id = EXCLUDED.sync_id, updated_at = now()"
        ),
        {
            "venue": venue_id,
            "provider": provider,
            "entity": entity_type,
            "at": cursor_at,
            "s": sync_id,
        },
    )


async def touch_config(session: AsyncSession, venue_id: uuid.UUID, provider: str) -> None:
    await session.execute(
        text(
            "UPDATE integration_configs SET last_sync_at = now(), updated_at = now()"
            " WHERE venue_id = :venue AND integration_type = :provider"
        ),
        {"venue": venue_id, "provider": provider},
    )
