"""API calls and bytes counted from real provider calls (the sandbox over HTTP) into
``integration_costs`` per venue, provider and month and ``integration_api_usage`` per hour, in
batches whose atomic upserts add up across flushes and processes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

from tests.integrations.health.support import (
    BASE,
    clients_for,
    engine_for,
    fetch,
    integration_app,
)
from tests.integrations.helpers import SANDBOX_KEY
from tests.integrations.providers.provider_support import Recorder
from tests.support import auth_header

from tickettoken.integrations.costs.meter import UsageMeter
from tickettoken.integrations.costs.repository import month_bounds
from tickettoken.integrations.providers import CallRecord, Credentials
from tickettoken.kit.settings import Settings

COSTS = (
    "SELECT api_calls, data_bytes, data_synced_mb, period_start, period_end"
    " FROM integration_costs WHERE venue_id = :venue AND integration_type = :provider"
)


def test_month_bounds() -> None:
    assert month_bounds(date(2026, 2, 14)) == (date(2026, 2, 1), date(2026, 2, 28))
    assert month_bounds(date(2028, 2, 1)) == (date(2028, 2, 1), date(2028, 2, 29))
    assert month_bounds(datetime(2026, 12, 31, 23, tzinfo=UTC)) == (
        date(2026, 12, 1),
        date(2026, 12, 31),
    )


async def test_n_real_calls_are_n_in_the_table(integration_settings: Settings) -> None:
    venue = uuid.uuid4()
    recorder = Recorder()
    async with engine_for(integration_settings) as engine:
        meter = UsageMeter(engine)

        async def both(record: CallRecord) -> None:
            await meter(record)
            await recorder(record)

        clients = clients_for(integration_settings, both)
        try:
            stripe = await clients.get("stripe")
            credentials = Credentials(api_key=SANDBOX_KEY, venue_id=str(venue))
            for _ in range(7):
                assert (await stripe.check(credentials)).ok
            # Nothing is written per call: only the flush writes.
            assert await fetch(engine, COSTS, venue=venue, provider="stripe") == []
            assert meter.pending_calls == 7
            assert await meter.flush() == 7
            # Three more (counted by our meter as its observer); a second meter (another
            # process) and ours are also handed them once more by hand, and both flush at the
            # same time: the upserts add up, none overwrites the other.
            other = UsageMeter(engine)
            for _ in range(3):
                await stripe.check(credentials)
            for record in recorder.records[7:]:
                other.observe(record)
                meter.observe(record)
            await asyncio.gather(meter.flush(), other.flush())
        finally:
            await clients.aclose()
        ours = [r for r in recorder.records if r.venue_id == str(venue)]
        assert len(ours) == 10  # one HTTP attempt per check
        [row] = await fetch(engine, COSTS, venue=venue, provider="stripe")
        assert row.api_calls == 7 + 3 + 3 + 3
        wire = sum(r.request_bytes + r.response_bytes for r in ours)
        extra = sum(r.request_bytes + r.response_bytes for r in ours[7:])
        assert row.data_bytes == wire + 2 * extra > 0
        assert row.data_synced_mb == (Decimal(row.data_bytes) / 1048576).quantize(Decimal("0.01"))
        assert (row.period_start, row.period_end) == month_bounds(ours[0].at)
        [hour] = await fetch(
            engine,
            "SELECT api_calls, failed_calls, bytes_sent, bytes_received FROM integration_api_usage"
            " WHERE venue_id = :venue",
            venue=venue,
        )
        assert hour.api_calls == 16 and hour.failed_calls == 0


async def test_a_failed_flush_keeps_its_counts(integration_settings: Settings) -> None:
    venue = uuid.uuid4()
    record = CallRecord(
        "stripe",
        str(venue),
        "account.retrieve",
        "GET",
        401,
        5.0,
        0,
        120,
        1,
        "stripe",
        datetime.now(UTC),
    )
    async with engine_for(integration_settings) as engine:
        broken = integration_settings.model_copy(
            update={"database_url": "postgresql://postgres@127.0.0.1:1/nothing"}
        )
        async with engine_for(broken) as dead:
            meter = UsageMeter(dead)
            meter.observe(record)
            meter.observe(record)
            try:
                await meter.flush()
            except Exception:
                pass
            else:
                raise AssertionError("the flush to a dead database should fail")
            assert meter.pending_calls == 2
            meter.engine = engine
            assert await meter.flush() == 2
        [row] = await fetch(engine, COSTS, venue=venue, provider="stripe")
        assert row.api_calls == 2 and row.data_bytes == 240
        [hour] = await fetch(
            engine,
            "SELECT failed_calls FROM integration_api_usage WHERE venue_id = :venue",
            venue=venue,
        )
        assert hour.failed_calls == 2
    # Calls that name no venue are not attributed to anyone's row.
    meter = UsageMeter(engine)
    meter.observe(
        CallRecord(
            "stripe", None, "oauth.token", "POST", 200, 1.0, 10, 10, 1, "s", datetime.now(UTC)
        )
    )
    assert meter.pending_calls == 0 and meter.unattributed == 1


async def test_the_service_counts_its_own_calls(
    integration_settings: Settings, token_for: Callable[..., str]
) -> None:
    """Over HTTP: connect (one live check), three tests (one each); the admin's cost report
    shows four calls for the venue once the service's meter flushed."""
    venue = uuid.uuid4()
    owner = auth_header(token_for("venue_admin", venue_ids=[str(venue)]))
    admin = auth_header(token_for("admin"))
    async with integration_app(integration_settings) as (app, http):
        connected = await http.post(
            f"{BASE}/stripe/api-key",
            json={"venue_id": str(venue), "api_key": SANDBOX_KEY},
            headers=owner,
        )
        assert connected.status_code == 200, connected.text
        for _ in range(3):
            tested = await http.post(
                f"{BASE}/health/stripe/test", json={"venueId": str(venue)}, headers=owner
            )
            assert tested.status_code == 200, tested.text
            assert tested.json()["data"]["ok"] is True
        await app.state.usage_meter.flush()
        report = await http.get(
            f"{BASE}/admin/costs",
            params={"venue_id": str(venue), "provider": "stripe"},
            headers=admin,
        )
        assert report.status_code == 200, report.text
        [row] = report.json()["data"]
        assert row["api_calls"] == 4 and row["data_bytes"] > 0
        assert row["month"] == datetime.now(UTC).strftime("%Y-%m")
        month = await http.get(
            f"{BASE}/admin/costs",
            params={"venue_id": str(venue), "month": "1999-01"},
            headers=admin,
        )
        assert month.json()["data"] == []
        bad = await http.get(f"{BASE}/admin/costs", params={"month": "2026-13"}, headers=admin)
        assert bad.status_code == 422
        # The 24 h row is computed at each check from what was flushed by then.
        again = await http.post(
            f"{BASE}/health/stripe/test", json={"venue_id": str(venue)}, headers=owner
        )
        assert again.json()["data"]["health"]["api_calls_24h"] == 4
        health = await http.get(
            f"{BASE}/health/stripe", params={"venue_id": str(venue)}, headers=owner
        )
        assert health.json()["data"]["api_calls_24h"] == 4
