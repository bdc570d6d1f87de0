"""Re-encrypt every sealed column of every row under the vault's newest key.

In batches, each its own transaction: the rows of a batch are locked (``FOR UPDATE SKIP
LOCKED``) while they are rewritten, so a token refresh committing meanwhile is never overwritten
with the older value it replaced (its UPDATE waits for the batch, or the batch skips the row and a
later pass takes it). A row is due while its version column or any of its values is older than
the newest key, so a run that stopped half-way, or a second run, just continues; the last pass
finds nothing to do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tickettoken.integrations.vault.sealed import SEALED_TABLES, SealedTable, context
from tickettoken.kit.vault import Vault

BUSY_RETRIES = 50
BUSY_WAIT_SECONDS = 0.1
Progress = Callable[[str, int], None]  # (table, rows just rewritten)


@dataclass
class RotationReport:
    version: int
    rewritten: dict[str, int] = field(default_factory=dict)
    busy: dict[str, int] = field(default_factory=dict)  # rows locked by others to the end


def _due(sealed: SealedTable, version: int) -> str:
    prefix = f"v{version}:"
    stale_values = " OR ".join(
        f"({column} IS NOT NULL AND left({column}, {len(prefix)}) <> '{prefix}')"
        for column in sealed.columns
    )
    return f"({sealed.version_column} IS DISTINCT FROM {version} OR {stale_values})"


async def count_due(engine: AsyncEngine, vault: Vault) -> dict[str, int]:
    counts: dict[str, int] = {}
    async with engine.connect() as conn:
        for sealed in SEALED_TABLES:
            found = await conn.scalar(
                text(
                    f"SELECT count(*) FROM {sealed.table} "
                    f"WHERE {_due(sealed, vault.current_version)}"
                )
            )
            counts[sealed.table] = int(found or 0)
    return counts


async def rotate(
    engine: AsyncEngine,
    vault: Vault,
    *,
    batch_size: int = 500,
    progress: Progress | None = None,
) -> RotationReport:
    """Rewrite every due row; rows another transaction holds are retried for a few seconds
    (a refresh holds its row only for its write), then reported in ``busy``."""
    report = RotationReport(vault.current_version)
    for sealed in SEALED_TABLES:
        report.rewritten[sealed.table] = 0
        waits = 0
        while True:
            done = await _rotate_batch(engine, vault, sealed, batch_size)
            if done:
                report.rewritten[sealed.table] += done
                if progress is not None:
                    progress(sealed.table, done)
                continue
            left = (await count_due(engine, vault))[sealed.table]
            if left == 0 or waits >= BUSY_RETRIES:
                report.busy[sealed.table] = left
                break
            waits += 1
            await asyncio.sleep(BUSY_WAIT_SECONDS)
    return report


async def _rotate_batch(engine: AsyncEngine, vault: Vault, sealed: SealedTable, size: int) -> int:
    columns = ", ".join(sealed.columns)
    select = text(
        f"SELECT id, venue_id, integration_type, {columns} FROM {sealed.table} "
        f"WHERE {_due(sealed, vault.current_version)} "
        "ORDER BY id LIMIT :size FOR UPDATE SKIP LOCKED"
    )
    assignments = ", ".join(f"{column} = :{column}" for column in sealed.columns)
    update = text(
        f"UPDATE {sealed.table} SET {assignments}, {sealed.version_column} = :version "
        "WHERE id = :id"
    )
    async with engine.begin() as conn:
        rows = (await conn.execute(select, {"size": size})).mappings().all()
        for row in rows:
            values: dict[str, object] = {"id": row["id"], "version": vault.current_version}
            for column in sealed.columns:
                stored = row[column]
                values[column] = (
                    None
                    if stored is None
                    else vault.reencrypt(
                        stored,
                        context(sealed.table, column, row["venue_id"], row["integration_type"]),
                    )
                )
            await conn.execute(update, values)
    return len(rows)
