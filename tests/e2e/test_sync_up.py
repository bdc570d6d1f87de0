"""Issue 10 end to end: the sync engine against ``tickettoken up --demo``, per provider, through
the gateway with the venue admin's token, counted at each sandbox through its own API.

One ``up --demo`` process for the module; the demo's large venue (``demo/sync_venue.py``: 1,000
customers, 50 events, 117 ticket types, ~290 paid orders) is connected to Square, Stripe,
Mailchimp and QuickBooks, and the four providers run side by side (each has its own limits):

1. a full sync of each, with the worker killed by SIGKILL while every provider's sync is under
   way (Mailchimp's calls are slowed so the kill lands in one); the supervisor restarts
   the worker, every sync completes, and each sandbox holds exactly the venue's records, once;
2. per provider (brought up to date first), one customer changed on the platform (through its
   API) and another in the provider (its API, as its UI would): a bidirectional sync makes
   exactly one write, the update of the first, and brings the second back to the platform, with
   no new object;
3. a catch-up sync (the other providers' changes), then re-runs (to the provider, and both
   ways): no write call at all.

Transactions are counted where the sync registry has a pusher for them (``TRANSACTIONS``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from tests.e2e.conftest import RunningPlatform, start_platform, stop_platform
from tests.e2e.provider_accounts import (
    Account,
    MailchimpAccount,
    QuickBooksAccount,
    Remote,
    SquareAccount,
    StripeAccount,
)
from tests.e2e.test_integrations_up import _data, _oauth, _venue_admin
from tests.support import create_scratch_database, drop_scratch_database

from tickettoken.demo.sync_venue import VENUE_ID
from tickettoken.integrations.sync.registry import PUSHERS

# Square takes 1,000 customers one call each at the platform limiter's 8/s: the full sync alone
# is over two minutes, more with the killed worker's leases
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]
OFFSET = 24000
SANDBOX_KEY = "sk_test_e2e_sync"
BASE = "/api/v1/integrations"
PROVIDERS = ("square", "stripe", "mailchimp", "quickbooks")
FINISHED = ("completed", "partial", "failed")
# What each provider's transactions are at its sandbox, counted only where the registry pushes
# them: adding Square orders or QuickBooks payments is one line here (and one in the account).
TRANSACTIONS: dict[str, Callable[[Account], int]] = {
    "quickbooks": lambda account: account.transactions(),  # invoices, one payment each
    "square": lambda account: account.transactions(),  # orders
}
SYNC_TIMEOUT = 420.0
LATENCY = 5.0  # seconds per Mailchimp request during the full sync


@dataclass
class Venue:
    """The venue's records as the platform holds them (read from its database)."""

    customers: dict[str, dict[str, Any]]  # id -> email, first_name, last_name, consent
    events: int
    ticket_type_ids: set[str]
    paid_orders: int

    def expected_customers(self, provider: str) -> dict[str, dict[str, Any]]:
        if provider == "mailchimp":  # only those who gave marketing consent
            return {k: v for k, v in self.customers.items() if v["consent"]}
        return self.customers


@dataclass
class Demo:
    platform: RunningPlatform
    database_url: str
    client: httpx.Client
    headers: dict[str, str]
    sandbox_url: str
    accounts: dict[str, Account]
    startup_seconds: float
    timings: dict[str, float] = field(default_factory=dict)

    # -- the sandbox's request log (a test control behind the sandbox key)

    def log_mark(self) -> int:
        answer = httpx.get(
            f"{self.sandbox_url}/_sandbox/requests",
            params={"limit": 0},
            headers=_key(),
            timeout=30,
        )
        mark: int = answer.json()["next"]
        return mark

    def write_count(self, provider: str, after: int) -> int:
        answer = httpx.get(
            f"{self.sandbox_url}/_sandbox/requests",
            params={"provider": provider, "kind": "write", "after": after, "limit": 0},
            headers=_key(),
            timeout=30,
        )
        count: int = answer.json()["count"]
        return count

    def writes(self, provider: str, after: int) -> list[dict[str, Any]]:
        answer = httpx.get(
            f"{self.sandbox_url}/_sandbox/requests",
            params={"provider": provider, "kind": "write", "after": after},
            headers=_key(),
            timeout=30,
        )
        writes: list[dict[str, Any]] = answer.json()["requests"]
        return writes

    def mailchimp_latency(self, seconds: float) -> None:
        """The Mailchimp sandbox's own delay per API request (a batch subscribe of 500 members
        takes seconds at Mailchimp too)."""
        answer = httpx.post(
            f"{self.sandbox_url}/_sandbox/mailchimp/config",
            json={"latency": seconds},
            headers=_key(),
            timeout=30,
        )
        assert answer.status_code == 200, answer.text

    # -- syncs through the gateway

    def start_sync(self, provider: str, direction: str = "to_provider") -> str:
        started = _data(
            self.client.post(
                f"{BASE}/sync/{provider}/sync",
                json={"venueId": str(VENUE_ID), "syncType": "full", "direction": direction},
                headers=self.headers,
            ),
            202,
        )
        sync_id: str = started["sync_id"]
        return sync_id

    def status(self, provider: str, sync_id: str) -> dict[str, Any]:
        view: dict[str, Any] = _data(
            self.client.get(
                f"{BASE}/sync/{provider}/sync/status",
                params={"venue_id": str(VENUE_ID)},
                headers=self.headers,
            )
        )
        assert view["sync_id"] == sync_id, (provider, view)
        return view

    def wait(self, provider: str, sync_id: str, timeout: float = SYNC_TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            view = self.status(provider, sync_id)
            if view["status"] in FINISHED:
                print(
                    f"{provider} {view['direction']}: {view['status']} in"
                    f" {view['duration_ms']} ms, {view['succeeded']} written {view['errors'][:3]}"
                )
                return view
            assert time.monotonic() < deadline, f"{provider} sync not finished: {view}"
            time.sleep(1.0)

    def sync_all(self, direction: str) -> dict[str, dict[str, Any]]:
        """A full sync of every provider at once; each one's final view."""
        ids = {p: self.start_sync(p, direction) for p in PROVIDERS}
        with ThreadPoolExecutor(len(PROVIDERS)) as pool:
            views = pool.map(lambda p: self.wait(p, ids[p]), PROVIDERS)
            return dict(zip(PROVIDERS, views, strict=True))


def _key() -> dict[str, str]:
    return {"Authorization": f"Bearer {SANDBOX_KEY}"}


async def _venue_records(database_url: str) -> Venue:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        customers = await conn.fetch(
            "SELECT id::text, lower(email) AS email, first_name, last_name,"
            " marketing_consent AS consent"
            " FROM customers WHERE venue_id = $1 AND email IS NOT NULL",
            VENUE_ID,
        )
        events = await conn.fetchval(
            "SELECT count(*) FROM events WHERE venue_id = $1 AND deleted_at IS NULL", VENUE_ID
        )
        types = await conn.fetch(
            "SELECT t.id::text FROM ticket_types t JOIN events e ON e.id = t.event_id"
            " WHERE e.venue_id = $1 AND e.deleted_at IS NULL",
            VENUE_ID,
        )
        paid = await conn.fetchval(
            "SELECT count(*) FROM orders o JOIN events e ON e.id = o.event_id"
            " WHERE e.venue_id = $1 AND o.status IN ('paid', 'partially_refunded')",
            VENUE_ID,
        )
    finally:
        await conn.close()
    return Venue(
        {row["id"]: dict(row) for row in customers}, events, {row["id"] for row in types}, paid
    )


async def _on_sale_ticket_type(database_url: str) -> tuple[str, str]:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        row = await conn.fetchrow(
            "SELECT e.id::text AS event, t.id::text AS type FROM ticket_types t"
            " JOIN events e ON e.id = t.event_id WHERE e.venue_id = $1"
            " AND e.status = 'published' AND e.start_date > now() + interval '2 days'"
            " AND t.quantity - t.sold - t.reserved > 10 ORDER BY e.start_date, t.id LIMIT 1",
            VENUE_ID,
        )
    finally:
        await conn.close()
    assert row is not None
    return row["event"], row["type"]


def _key_of(provider: str, remote: Remote) -> str:
    """How the platform's customer is recognised at the provider: the platform id it keeps
    (Square ``reference_id``, Stripe metadata), else the e-mail."""
    return remote.local_id if provider in ("square", "stripe") else remote.email.lower()


def _expected_keys(provider: str, venue: Venue) -> set[str]:
    expected = venue.expected_customers(provider)
    if provider in ("square", "stripe"):
        return set(expected)
    return {c["email"] for c in expected.values()}


@pytest.fixture(scope="module")
def demo(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    workdir: Path = tmp_path_factory.mktemp("tt-e2e-sync")
    database_url = asyncio.run(create_scratch_database(pg_server_url, prefix="tt_e2e_sync"))
    gateway = f"http://127.0.0.1:{3000 + OFFSET}"
    began = time.monotonic()
    platform = start_platform(
        {
            "DATABASE_URL": database_url,
            "API_URL": gateway,
            "SANDBOX_SECRET_KEY": SANDBOX_KEY,
            # one client polls four syncs' status: above the gateway's default 100 a minute
            "RATE_LIMIT_MAX_REQUESTS": "1000",
            # syncs start when the test says: the scheduler would also start one for each
            # connection a provider's webhook marked due (every push echoes back as a change)
            "INTEGRATION_SYNC_SCHEDULE_SECONDS": "0",
            # the killed worker's jobs are taken again once their leases lapse (30 s by default)
            "WORKER_LEASE_SECONDS": "8",
        },
        OFFSET,
        workdir,
        "--demo",
    )
    try:
        platform.wait_healthy(["gateway", "event", "integration", "queue"], timeout=180)
        startup = time.monotonic() - began
        print(f"\nup --demo healthy after {startup:.1f} s (migrations, demo seed, services)")
        sandbox_url = f"http://127.0.0.1:{3090 + OFFSET}"
        described = httpx.get(f"{sandbox_url}/", timeout=10).json()["providers"]
        headers = _venue_admin(VENUE_ID)
        with httpx.Client(base_url=gateway, timeout=60) as client:
            _data(
                client.post(
                    f"{BASE}/connect/stripe",
                    json={"venueId": str(VENUE_ID), "apiKey": SANDBOX_KEY},
                    headers=headers,
                )
            )
            _data(
                client.post(
                    f"{BASE}/mailchimp/api-key",
                    json={"venueId": str(VENUE_ID), "apiKey": described["mailchimp"]["api_key"]},
                    headers=headers,
                )
            )
            square = _oauth(client, VENUE_ID, "square")["account"]["merchant_id"]
            realm = _oauth(client, VENUE_ID, "quickbooks")["account"]["realm_id"]
            accounts: dict[str, Account] = {
                "square": SquareAccount(described["square"], square),
                "stripe": StripeAccount(described["stripe"], SANDBOX_KEY),
                "mailchimp": MailchimpAccount(described["mailchimp"]),
                "quickbooks": QuickBooksAccount(described["quickbooks"], realm),
            }
            yield Demo(platform, database_url, client, headers, sandbox_url, accounts, startup)
    finally:
        stop_platform(platform)
        asyncio.run(drop_scratch_database(pg_server_url, database_url))


def _assert_holds_exactly(demo: Demo, provider: str, venue: Venue) -> list[Remote]:
    """The sandbox holds each of the venue's records once, and nothing else."""
    account = demo.accounts[provider]
    remotes = account.customers()
    keys = [_key_of(provider, r) for r in remotes]
    expected = _expected_keys(provider, venue)
    assert len(keys) == len(set(keys)), f"{provider}: duplicate customers"
    assert set(keys) == expected, (provider, len(keys), len(expected))
    if provider != "mailchimp":
        products, variations = account.products(venue.ticket_type_ids)
        types = len(venue.ticket_type_ids)
        wanted = (types, types) if provider == "quickbooks" else (venue.events, types)
        assert (products, variations) == wanted, provider
    if (provider, "transactions") in PUSHERS:
        assert TRANSACTIONS[provider](account) == venue.paid_orders, provider
    return remotes


def _wait_for_writes(demo: Demo, mark: int, providers: set[str], pause: float = 0.1) -> None:
    deadline = time.monotonic() + 180
    while {p for p in providers if demo.write_count(p, mark)} != providers:
        assert time.monotonic() < deadline, f"not every one of {providers} written to"
        time.sleep(pause)


def test_full_sync_survives_a_killed_worker_and_holds_exactly_the_venue(demo: Demo) -> None:
    venue = asyncio.run(_venue_records(demo.database_url))
    assert len(venue.customers) >= 1000 and venue.events >= 50, "the demo's large venue"
    mark = demo.log_mark()
    demo.mailchimp_latency(LATENCY)  # each Mailchimp call in flight for seconds
    began = time.monotonic()
    # Square, Stripe and QuickBooks take minutes; Mailchimp's two batch calls seconds: it starts
    # once the others write, and the worker dies as its first batch call arrives
    ids = {p: demo.start_sync(p) for p in PROVIDERS if p != "mailchimp"}
    _wait_for_writes(demo, mark, set(ids))
    ids["mailchimp"] = demo.start_sync("mailchimp")
    worker = demo.platform.worker_pid()
    _wait_for_writes(demo, mark, {"mailchimp"}, pause=0.02)
    os.kill(worker, signal.SIGKILL)  # every provider's sync has written; none has ended
    killed, killed_at = datetime.now(UTC), time.monotonic() - began
    demo.mailchimp_latency(0)
    deadline = time.monotonic() + 30
    while True:  # the supervisor starts a new worker
        try:
            if demo.platform.worker_pid() != worker:
                break
        except LookupError:
            pass
        assert time.monotonic() < deadline, "no new worker"
        time.sleep(0.1)

    with ThreadPoolExecutor(len(PROVIDERS)) as pool:
        finals = pool.map(lambda p: demo.wait(p, ids[p]), PROVIDERS)
        ended_views = dict(zip(PROVIDERS, finals, strict=True))
        demo.timings[f"full sync (kill at {killed_at:.1f} s)"] = time.monotonic() - began
        for provider, view in ended_views.items():
            assert view["status"] == "completed", (provider, view)
            assert view["failed"] == 0, (provider, view)
            assert datetime.fromisoformat(view["completed_at"]) > killed, (provider, view)
        list(pool.map(lambda p: _assert_holds_exactly(demo, p, venue), PROVIDERS))
    print(
        f"writes: { {p: demo.write_count(p, mark) for p in PROVIDERS} }, kill at {killed_at:.1f} s"
    )


@pytest.fixture(scope="module")
def changed(demo: Demo) -> dict[str, tuple[str, str]]:
    """Per provider, (customer changed on the platform, customer changed at the provider)."""
    venue = asyncio.run(_venue_records(demo.database_url))
    consenting = sorted(k for k, v in venue.customers.items() if v["consent"])
    return {p: (consenting[2 * n], consenting[2 * n + 1]) for n, p in enumerate(PROVIDERS)}


def _rename_on_platform(demo: Demo, customer: dict[str, Any], last_name: str) -> None:
    """The box office sells the customer a ticket and types their new last name (the platform
    keeps a buyer's record by e-mail and takes the details typed)."""
    event, ticket_type = asyncio.run(_on_sale_ticket_type(demo.database_url))
    _data(
        demo.client.post(
            f"/api/v1/events/{event}/reservations",
            json={
                "ticket_type_id": ticket_type,
                "quantity": 1,
                "customer": {
                    "email": customer["email"],
                    "first_name": customer["first_name"],
                    "last_name": last_name,
                },
            },
            headers={**demo.headers, "Idempotency-Key": uuid.uuid4().hex},
        ),
        201,
    )


def test_one_change_on_each_side_moves_exactly_that_change(
    demo: Demo, changed: dict[str, tuple[str, str]]
) -> None:
    venue = asyncio.run(_venue_records(demo.database_url))
    for provider in PROVIDERS:
        # one after another, each brought up to date first: what the providers before it brought
        # back to the platform is news for it, and is not the change this test makes
        settled = demo.wait(provider, demo.start_sync(provider, "bidirectional"))
        assert settled["status"] == "completed", settled
        account = demo.accounts[provider]
        mine, theirs = changed[provider]
        before = {_key_of(provider, r): r for r in account.customers()}
        key_mine, key_theirs = (
            (mine, theirs)
            if provider in ("square", "stripe")
            else (venue.customers[mine]["email"], venue.customers[theirs]["email"])
        )
        platform_name, provider_name = f"Boxoffice{provider.title()}", f"Desk{provider.title()}"
        _rename_on_platform(demo, venue.customers[mine], platform_name)
        account.rename(before[key_theirs], provider_name)

        mark = demo.log_mark()
        began = time.monotonic()
        view = demo.wait(provider, demo.start_sync(provider, "bidirectional"))
        demo.timings[f"incremental {provider}"] = time.monotonic() - began
        assert view["status"] == "completed", view
        writes = demo.writes(provider, mark)
        assert len(writes) == 1, (provider, writes)  # the one update; nothing else
        if provider == "stripe":  # the customer's own update path
            assert before[key_mine].id in writes[0]["path"], writes
        elif provider == "square":  # updates go in bulk (the object's id is in the body)
            assert writes[0]["path"].endswith("/customers/bulk-update"), writes

        after = {_key_of(provider, r): r for r in account.customers()}
        assert set(after) == set(before), f"{provider}: an object appeared or went"
        assert after[key_mine].id == before[key_mine].id
        assert after[key_mine].last_name == platform_name, after[key_mine]
        assert after[key_theirs].last_name == provider_name, after[key_theirs]
        profile = _data(
            demo.client.get(f"/api/v1/customers/{theirs}/profile", headers=demo.headers)
        )
        assert profile["customer"]["last_name"] == provider_name, (provider, profile)


def test_a_rerun_with_nothing_changed_writes_nothing(demo: Demo) -> None:
    """Side by side, pushes and then pulls: four bidirectional syncs of one venue at once (they
    once deadlocked on its customer rows: ``test_customer_pull_locks.py``)."""
    venue = asyncio.run(_venue_records(demo.database_url))
    began = time.monotonic()
    for provider, view in demo.sync_all("to_provider").items():  # the others' changes
        assert view["status"] == "completed", (provider, view)
    mark = demo.log_mark()
    for provider, view in demo.sync_all("to_provider").items():
        assert view["status"] == "completed", (provider, view)
        assert view["succeeded"] == 0, (provider, view)
    for provider, view in demo.sync_all("bidirectional").items():
        assert view["status"] == "completed", (provider, view)
        assert view["succeeded"] == 0, (provider, view)
    for provider in PROVIDERS:
        assert demo.writes(provider, mark) == [], provider
    demo.timings["catch-up and re-runs"] = time.monotonic() - began
    with ThreadPoolExecutor(len(PROVIDERS)) as pool:
        list(pool.map(lambda p: _assert_holds_exactly(demo, p, venue), PROVIDERS))
    print(
        f"\nup --demo healthy after {demo.startup_seconds:.1f} s; "
        + "; ".join(f"{name}: {seconds:.1f} s" for name, seconds in demo.timings.items())
    )


def test_a_provider_s_own_webhook_reaches_the_platform_through_the_gateway(demo: Demo) -> None:
    """Acceptance: a webhook a sandbox sends when its state changes reaches the platform through
    the gateway with its bytes untouched. ``up`` subscribes the sandboxes at the gateway's URL;
    the platform stores a delivery only once its signature over the raw bytes verified (Square
    signs the URL + body, QuickBooks the body), and lists it back through the gateway."""
    gateway = str(demo.client.base_url).rstrip("/")
    described = httpx.get(f"{demo.sandbox_url}/", timeout=10).json()["providers"]
    subscribed = {
        "square": described["square"]["webhook_subscription_url"],
        "quickbooks": described["quickbooks"]["webhook_url"],
    }
    for provider, url in subscribed.items():
        assert url == f"{gateway}{BASE}/webhooks/{provider}", (provider, url)
        seen = {event["id"] for event in _webhook_events(demo, provider)}
        account = demo.accounts[provider]
        account.rename(account.customers()[0], f"Hooked{provider.title()}")
        deadline = time.monotonic() + 60
        while True:
            new = [e for e in _webhook_events(demo, provider) if e["id"] not in seen]
            if new and all(e["status"] in ("processed", "ignored") for e in new):
                break
            assert time.monotonic() < deadline, (provider, new)
            time.sleep(0.5)
        kinds = {event["event_type"] for event in new}
        # Square customer.updated; QuickBooks qbo.customer.updated.v1 (or Customer/Update)
        assert any("customer" in k.lower() and "updat" in k.lower() for k in kinds), kinds


def _webhook_events(demo: Demo, provider: str) -> list[dict[str, Any]]:
    answer = demo.client.get(
        f"{BASE}/webhooks/{provider}/events",
        params={"venue_id": str(VENUE_ID), "limit": 100},
        headers=demo.headers,
    )
    assert answer.status_code == 200, answer.text
    events: list[dict[str, Any]] = answer.json()["data"]
    return events
