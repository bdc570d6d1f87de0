"""The call observer that counts every provider HTTP attempt into ``integration_costs`` (per
venue, provider and month) and ``integration_api_usage`` (per hour), in batches.

An attempt only adds to a counter in memory (no I/O on the provider call's path); every few
seconds, and once more at shutdown, the counters are written with one set-based upsert per table
(``api_calls = api_calls + EXCLUDED.api_calls``). A flush that fails (the database restarting)
puts its counts back, so they go out with the next one instead of being lost. A process that dies
between flushes loses at most ``flush_every`` seconds of counts: these are cost and health
figures, not money.

Counted: every attempt, retries included (each is a request the provider bills or limits);
bytes are what crossed the wire (request body sent, response body as received, compressed when
the provider compressed it). Attempts that name no venue (platform-level calls) cannot be
attributed to a venue's row and are counted in ``unattributed`` only.
"""

from __future__ import annotations

import asyncio
import uuid

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from tickettoken.integrations.costs.repository import Tally, UsageKey, write_usage
from tickettoken.integrations.providers import CallRecord
from tickettoken.kit.faults import database_unreachable
from tickettoken.kit.periodic import Periodic

log = structlog.get_logger(__name__)

FLUSH_EVERY_SECONDS = 5.0


class UsageMeter:
    """``CallObserver``: pass it as ``observer=`` to ``build_provider`` / ``ProviderClients``."""

    def __init__(self, engine: AsyncEngine, *, flush_every: float = FLUSH_EVERY_SECONDS) -> None:
        self.engine = engine
        self.flush_every = flush_every
        self._pending: dict[UsageKey, Tally] = {}
        self._flushing = asyncio.Lock()
        self._periodic: Periodic | None = None
        self.unattributed = 0

    async def __call__(self, record: CallRecord) -> None:
        self.observe(record)

    def observe(self, record: CallRecord) -> None:
        try:
            venue = uuid.UUID(record.venue_id) if record.venue_id else None
        except ValueError:
            venue = None
        if venue is None:
            self.unattributed += 1
            return
        hour = record.at.replace(minute=0, second=0, microsecond=0)
        tally = self._pending.setdefault((venue, record.provider, hour), Tally())
        tally.calls += 1
        tally.failed += int(record.status is None or record.status >= 400)
        tally.sent += max(record.request_bytes, 0)
        tally.received += max(record.response_bytes, 0)

    @property
    def pending_calls(self) -> int:
        return sum(t.calls for t in self._pending.values())

    async def flush(self) -> int:
        """Write what was counted since the last flush; the number of calls written."""
        async with self._flushing:
            batch, self._pending = self._pending, {}
            if not batch:
                return 0
            try:
                async with self.engine.begin() as conn:
                    await write_usage(conn, batch)
            except BaseException:
                for key, tally in batch.items():  # back, for the next flush
                    self._pending.setdefault(key, Tally()).add(tally)
                raise
            return sum(t.calls for t in batch.values())

    def start(self) -> None:
        if self._periodic is None:
            self._periodic = Periodic(
                "provider usage meter",
                self.flush,
                self.flush_every,
                first_after=self.flush_every,
                expected=database_unreachable,
            )
            self._periodic.start()

    async def stop(self) -> None:
        """Stop the schedule and write what is left."""
        if self._periodic is not None:
            await self._periodic.stop()
            self._periodic = None
        try:
            await self.flush()
        except Exception as exc:  # the database is gone at shutdown: say how much is lost
            log.warning("usage_meter_final_flush_failed", calls=self.pending_calls, error=str(exc))
