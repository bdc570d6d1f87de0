"""The two upserts a usage flush makes, each one set-based statement for the whole batch, and the
admin's cost report.

``api_calls = integration_costs.api_calls + EXCLUDED.api_calls``: the addition happens in the
row's own update, so flushes from any number of processes add up and none overwrites another.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from tickettoken.integrations.models import IntegrationCost

BYTES_PER_MB = 1024 * 1024

_UPSERT_COSTS = text(
    """
    INSERT INTO integration_costs AS c
        (venue_id, integration_type, period_start, period_end, api_calls, data_bytes,
         data_synced_mb)
    SELECT v, p, s, e, n, b, round(b / 1048576.0, 2)
    FROM unnest(CAST(:venues AS uuid[]), CAST(:providers AS text[]), CAST(:starts AS date[]),
                CAST(:ends AS date[]), CAST(:calls AS integer[]), CAST(:bytes AS bigint[]))
         AS x(v, p, s, e, n, b)
    ON CONFLICT (venue_id, integration_type, period_start) DO UPDATE SET
        api_calls = COALESCE(c.api_calls, 0) + EXCLUDED.api_calls,
        data_bytes = c.data_bytes + EXCLUDED.data_bytes,
        data_synced_mb = round((c.data_bytes + EXCLUDED.data_bytes) / 1048576.0, 2)
    """
)

_UPSERT_HOURS = text(
    """
    INSERT INTO integration_api_usage AS u
        (venue_id, integration_type, hour_start, api_calls, failed_calls, bytes_sent,
         bytes_received)
    SELECT * FROM unnest(CAST(:venues AS uuid[]), CAST(:providers AS text[]),
                         CAST(:hours AS timestamptz[]), CAST(:calls AS integer[]),
                         CAST(:failed AS integer[]), CAST(:sent AS bigint[]),
                         CAST(:received AS bigint[]))
    ON CONFLICT (venue_id, integration_type, hour_start) DO UPDATE SET
        api_calls = u.api_calls + EXCLUDED.api_calls,
        failed_calls = u.failed_calls + EXCLUDED.failed_calls,
        bytes_sent = u.bytes_sent + EXCLUDED.bytes_sent,
        bytes_received = u.bytes_received + EXCLUDED.bytes_received
    """
)


@dataclass
class Tally:
    calls: int = 0
    failed: int = 0
    sent: int = 0
    received: int = 0

    def add(self, other: Tally) -> None:
        self.calls += other.calls
        self.failed += other.failed
        self.sent += other.sent
        self.received += other.received


# (venue, provider, hour start); the month is derived from the hour.
UsageKey = tuple[uuid.UUID, str, datetime]


def month_bounds(moment: datetime | date) -> tuple[date, date]:
    """First and last day of the (UTC) month of ``moment``."""
    first = date(moment.year, moment.month, 1)
    following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return first, date.fromordinal(following.toordinal() - 1)


async def write_usage(conn: AsyncConnection, batch: dict[UsageKey, Tally]) -> None:
    """Add one batch to the hourly and the monthly counters (the caller's transaction)."""
    if not batch:
        return
    keys = sorted(batch, key=lambda k: (str(k[0]), k[1], k[2]))  # one lock order everywhere
    await conn.execute(
        _UPSERT_HOURS,
        {
            "venues": [k[0] for k in keys],
            "providers": [k[1] for k in keys],
            "hours": [k[2] for k in keys],
            "calls": [batch[k].calls for k in keys],
            "failed": [batch[k].failed for k in keys],
            "sent": [batch[k].sent for k in keys],
            "received": [batch[k].received for k in keys],
        },
    )
    monthly: dict[tuple[uuid.UUID, str, date], Tally] = {}
    for key in keys:
        start, _ = month_bounds(key[2])
        monthly.setdefault((key[0], key[1], start), Tally()).add(batch[key])
    months = sorted(monthly, key=lambda k: (str(k[0]), k[1], k[2]))
    await conn.execute(
        _UPSERT_COSTS,
        {
            "venues": [m[0] for m in months],
            "providers": [m[1] for m in months],
            "starts": [m[2] for m in months],
            "ends": [month_bounds(m[2])[1] for m in months],
            "calls": [monthly[m].calls for m in months],
            "bytes": [monthly[m].sent + monthly[m].received for m in months],
        },
    )


async def cost_rows(
    session: AsyncSession,
    *,
    venue_id: uuid.UUID | None,
    provider: str | None,
    month: date | None,
    offset: int,
    limit: int,
) -> tuple[Sequence[IntegrationCost], int]:
    conditions: list[Any] = []
    if venue_id is not None:
        conditions.append(IntegrationCost.venue_id == venue_id)
    if provider is not None:
        conditions.append(IntegrationCost.integration_type == provider)
    if month is not None:
        conditions.append(IntegrationCost.period_start == month)
    total = await session.scalar(
        select(func.count()).select_from(IntegrationCost).where(*conditions)
    )
    rows = await session.scalars(
        select(IntegrationCost)
        .where(*conditions)
        .order_by(
            IntegrationCost.period_start.desc(),
            IntegrationCost.venue_id,
            IntegrationCost.integration_type,
        )
        .offset(offset)
        .limit(limit)
    )
    return rows.all(), int(total or 0)
