"""Sync throughput: records per second the sync engine pushes to each provider sandbox, against
what the sandbox's rate limit and batch size allow, and against one call per record.

Real parts: a scratch database migrated to head, the provider sandbox in a process of its own
(its real limits: Stripe 25 req/s per key with a burst of 50; Square 10 req/s per token;
QuickBooks 10/s, 500/min and 40 batch requests/min per realm, 30 operations a batch; Mailchimp
10 simultaneous connections, 500 members a batch subscribe), the integration app in-process for
the OAuth connections and ``POST .../sync/{provider}/sync``, and one queue worker in a process of
its own (the service table's handlers, the Redis provider limiter) that runs the ``sync`` jobs.

The worker process runs the code of the tree this script lies in (``ROOT/src``), whatever
``PYTHONPATH`` says: to compare two versions, run each tree's own copy of the script.

Every measurement gets a venue and a connection of its own (a fresh Square seller, QuickBooks
realm, Stripe Connect token), so each starts with full buckets and empty windows. Per provider
and record type, per round:

1. engine: ``POST .../sync`` -> the sync log's end (``duration_ms``: the request's transaction
   to ``completed``), records / s;
2. ceiling: what the limits allow for the same records from an idle start: the batches needed,
   the earliest moment the limits let the last one start, plus that call's median latency (as
   the worker saw it); the sustained ceiling (a long run) is printed beside it;
3. per record: one call per record through the same provider clients (same limiter), with as
   many in flight as the platform's limiter allows the provider, for ``--baseline-seconds``;
4. every 429 the sandbox answered (the worker's call observer), and whether every sync ended
   ``completed`` with every record succeeded (none failed, none dead-lettered);
5. costs: the worker's and the sandbox's CPU per record (``/proc``), where the sync's time went
   (before the first claim; the items) and the PostgreSQL connections opened meanwhile.

Records: events (with their ticket types) for products, customers for customers. Customer
pushers that make one call per customer (Stripe) get ``--single-customers``; Stripe
products (one product + one price per ticket type) get ``--single-events``: the rest of the
``--customers`` would only lengthen the run at the same rate. QuickBooks customers get
``--qb-customers`` (default 300: 10 batches, 15 s at 39 batches a minute).

    PYTHONPATH=src .venv/bin/python bench/sync_throughput.py [--customers 2000] [--events 100]
        [--ticket-types 3] [--rounds 3] [--single-customers 150] [--single-events 25]
        [--qb-customers 300]
        [--baseline-seconds 4] [--providers square,stripe,mailchimp,quickbooks]
        [--mailchimp-latency 0.5]
        [--only square:products,mailchimp:customers]
        [--server-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--redis-url redis://127.0.0.1:6379/12]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import text  # noqa: E402

from tickettoken.kit.db import Database  # noqa: E402
from tickettoken.kit.settings import Settings  # noqa: E402

SANDBOX_KEY = "sk_test_sync_bench"
CONTROL = {"Authorization": f"Bearer {SANDBOX_KEY}"}
API_URL = "https://platform.example"
BASE = "/api/v1/integrations"
FINISHED = ("completed", "partial", "failed")
ROUTE_TYPES = {"products": "products", "customers": "customers"}

# The sandbox's limits (src/tickettoken/sandbox: square/api.py, quickbooks/api.py,
# stripe/ratelimit.py, mailchimp.py), as (count, window seconds) sliding windows, or a token
# bucket for Stripe.
SQUARE_WINDOWS = [(10, 1.0)]
QBO_WINDOWS = [(10, 1.0), (500, 60.0)]
QBO_BATCH_WINDOWS = [(40, 60.0)]
STRIPE_RATE, STRIPE_BURST = 25.0, 50
MAILCHIMP_CONNECTIONS = 10
SQUARE_BATCH_OBJECTS, MAILCHIMP_BATCH, QBO_BATCH = 1000, 500, 30
SQUARE_MAX_CUSTOMERS_PER_BULK = 100
# The platform limiter's concurrency per provider (kit/provider_limits, SPEC 6): the per-record
# baseline runs that many calls at once.
PLATFORM_CONCURRENCY = {"square": 5, "stripe": 10, "mailchimp": 10, "quickbooks": 3}

MEASUREMENTS = [
    ("square", "products"),
    ("square", "customers"),
    ("stripe", "products"),
    ("stripe", "customers"),
    ("mailchimp", "customers"),
    ("quickbooks", "products"),
    ("quickbooks", "customers"),
]


# --- scratch database, sandbox and worker processes ----------------------------------------


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _with_db(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def create_database(server: str) -> str:
    name = f"tt_syncbench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(_dsn(server))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_database(server: str, name: str) -> None:
    conn = await asyncpg.connect(_dsn(server))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


SANDBOX_MAIN = (
    "import sys, uvicorn\n"
    "from tickettoken.sandbox.app import create_sandbox_app\n"
    "uvicorn.run(create_sandbox_app(secret_key=sys.argv[1]), host='127.0.0.1',"
    " port=int(sys.argv[2]), log_level='warning', access_log=False)\n"
)


def start_sandbox() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-c", SANDBOX_MAIN, SANDBOX_KEY, str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{url}/", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("sandbox did not start")
        time.sleep(0.1)


def settings_values(sandbox_url: str, database_url: str, redis_url: str) -> dict[str, Any]:
    index = httpx.get(f"{sandbox_url}/").json()["providers"]
    stripe, square = index["stripe"], index["square"]
    mailchimp, quickbooks = index["mailchimp"], index["quickbooks"]
    vault_key = secrets.token_bytes(32).hex()
    import base64

    return {
        "environment": "development",
        "jwt_secret": secrets.token_hex(32),
        "log_format": "json",
        "log_level": "WARNING",
        "database_url": database_url,
        "redis_url": redis_url,
        "api_url": API_URL,
        "encryption_key": f"1:{base64.b64encode(bytes.fromhex(vault_key)).decode()}",
        "stripe_secret_key": SANDBOX_KEY,
        "stripe_base_url": stripe["api_base_url"],
        "stripe_connect_base_url": stripe["oauth_base_url"],
        "stripe_connect_client_id": stripe["connect_client_id"],
        "square_app_id": square["application_id"],
        "square_app_secret": square["application_secret"],
        "square_base_url": square["api_base_url"],
        "mailchimp_client_id": mailchimp["oauth_client_id"],
        "mailchimp_client_secret": mailchimp["oauth_client_secret"],
        "mailchimp_base_url": mailchimp["api_endpoint"],
        "mailchimp_api_base_url": mailchimp["api_endpoint"],
        "quickbooks_client_id": quickbooks["client_id"],
        "quickbooks_client_secret": quickbooks["client_secret"],
        "quickbooks_base_url": quickbooks["api_base_url"].removesuffix("/v3"),
        "quickbooks_discovery_url": quickbooks["discovery_url"],
    }


def make_settings(values: dict[str, Any]) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def worker_main(values: dict[str, Any], calls_path: str) -> None:
    """The worker process: the service table's handlers on the communication queue, the
    Redis provider limiter, and provider clients whose observer appends each attempt to
    ``calls_path`` (JSON lines) so the benchmark can count calls, latencies and 429s."""
    import signal

    from tickettoken.integrations.connections.clients import ProviderClients
    from tickettoken.integrations.providers import CallRecord
    from tickettoken.integrations.sync import engine
    from tickettoken.kit.provider_limits import build_rate_limiter
    from tickettoken.queue.engine import Worker
    from tickettoken.services import job_registry

    settings = make_settings(values)
    database = Database(values["database_url"], pool_min=1, pool_max=12)  # 10 sync lanes
    limiter = await build_rate_limiter(settings, database_url=values["database_url"])
    out = Path(calls_path).open("a", buffering=1)  # noqa: ASYNC230, SIM115 (the process's life)

    async def observe(record: CallRecord) -> None:
        out.write(
            json.dumps(
                {
                    "provider": record.provider,
                    "venue": record.venue_id,
                    "endpoint": record.endpoint,
                    "method": record.method,
                    "status": record.status,
                    "ms": record.elapsed_ms,
                    "attempt": record.attempt,
                    "at": time.time(),  # the answer's moment: the calls' timeline
                }
            )
            + "\n"
        )

    clients = ProviderClients(settings, limiter=limiter, observer=observe)
    engine.use_clients(clients)
    async with httpx.AsyncClient(timeout=30.0) as http:
        worker = Worker(
            database,
            queues=["communication"],
            registry=job_registry(),
            settings=settings,
            limiter=limiter,
            http=http,
            concurrency=2,
            poll_interval=1.0,  # the default: LISTEN wakes it on enqueue (polling cost CPU)
        )
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, worker.stop)
        await worker.run()
    await clients.aclose()
    await limiter.aclose()
    await database.dispose()
    out.close()


# The worker's and the sandbox's process ids: CPU seconds per sync read from /proc (a rate on a
# machine shared with other work is noisy; the CPU a record costs much less).
PIDS: dict[str, int] = {}


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_worker(values: dict[str, Any], calls_path: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen(
        [sys.executable, __file__, "--worker", json.dumps(values), calls_path], env=env
    )


# --- the demo data and the connections -------------------------------------------------------


async def seed_venue(db: Database, *, customers: int, events: int, ticket_types: int) -> uuid.UUID:
    """A venue with ``events`` events of ``ticket_types`` ticket types and ``customers``
    customers (all with marketing consent, ``customers.marketing_consent`` of migration 0016,
    so Mailchimp gets every one)."""
    venue = uuid.uuid4()
    async with db.transaction() as session:
        await session.execute(
            text("INSERT INTO venues (id, name, capacity) VALUES (:id, :name, 5000)"),
            {"id": venue, "name": f"Bench hall {venue.hex[:6]}"},
        )
        await session.execute(
            text(
                "INSERT INTO events (venue_id, name, description, start_date, end_date, capacity)"
                " SELECT :venue, 'Show ' || g || ' ' || :tag, 'A night out',"
                " now() + interval '30 days', now() + interval '30 days 3 hours', 500"
                " FROM generate_series(1, :n) g"
            ),
            {"venue": venue, "tag": venue.hex[:6], "n": events},
        )
        await session.execute(
            text(
                "INSERT INTO ticket_types (event_id, name, price, quantity)"
                " SELECT e.id, 'Tier ' || k, 20 + 10 * k, 100"
                " FROM events e CROSS JOIN generate_series(0, :t - 1) k WHERE e.venue_id = :venue"
            ),
            {"venue": venue, "t": ticket_types},
        )
        await session.execute(
            text(
                "INSERT INTO customers (venue_id, email, first_name, last_name, phone,"
                " marketing_consent)"
                " SELECT :venue, 'fan' || g || '.' || :tag || '@example.com', 'Ada',"
                " 'Fan' || g, '+1555' || lpad(g::text, 7, '0'), true"
                " FROM generate_series(1, :n) g"
            ),
            {"venue": venue, "tag": venue.hex[:8], "n": customers},
        )
    return venue


@dataclass
class Platform:
    settings: Settings
    app_client: httpx.AsyncClient
    db: Database

    def headers(self, venue: uuid.UUID) -> dict[str, str]:
        from tickettoken.kit.auth import mint_token

        token = mint_token(role="venue_admin", venue_ids=[str(venue)], settings=self.settings)
        return {"Authorization": f"Bearer {token}"}

    async def connect(self, venue: uuid.UUID, provider: str) -> None:
        """The platform's own OAuth flow: connect, the sandbox's consent page, the callback."""
        headers = self.headers(venue)
        started = await self.app_client.post(
            f"{BASE}/connect/{provider}", json={"venueId": str(venue)}, headers=headers
        )
        assert started.status_code == 200, started.text
        async with httpx.AsyncClient() as browser:
            consent = await browser.get(started.json()["data"]["authorization_url"])
        assert consent.status_code == 302, consent.text
        query = parse_qs(urlsplit(consent.headers["location"]).query)
        params = {name: values[0] for name, values in query.items()}
        done = await self.app_client.get(f"{BASE}/oauth/callback/{provider}", params=params)
        assert done.status_code == 200, done.text

    async def start_sync(self, venue: uuid.UUID, provider: str, sync_type: str) -> str:
        answer = await self.app_client.post(
            f"{BASE}/sync/{provider}/sync",
            json={"venueId": str(venue), "syncType": sync_type, "direction": "to_provider"},
            headers=self.headers(venue),
        )
        assert answer.status_code == 202, answer.text
        return str(answer.json()["data"]["sync_id"])

    async def wait_sync(self, sync_id: str, within: float) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            async with self.db.transaction() as session:
                row = await session.execute(
                    text("SELECT * FROM sync_logs WHERE sync_id = :s"), {"s": uuid.UUID(sync_id)}
                )
                found = dict(row.mappings().one())
                if found["status"] in FINISHED:
                    items = await session.execute(
                        text(
                            "SELECT status, count(*) FROM sync_queue WHERE sync_id = :s"
                            " GROUP BY status"
                        ),
                        {"s": uuid.UUID(sync_id)},
                    )
                    found["items"] = {s: int(n) for s, n in items.all()}
                    # Where the time went: before the first item was claimed (the job's pickup
                    # and the expansion), and from the first claim to the last completion.
                    span = (
                        await session.execute(
                            text(
                                "SELECT extract(epoch FROM min(q.started_at) - l.started_at),"
                                " extract(epoch FROM max(q.completed_at) - min(q.started_at))"
                                " FROM sync_queue q JOIN sync_logs l ON l.sync_id = q.sync_id"
                                " WHERE q.sync_id = :s GROUP BY l.started_at"
                            ),
                            {"s": uuid.UUID(sync_id)},
                        )
                    ).first()
                    found["before_items"], found["items_span"] = (
                        (float(span[0] or 0), float(span[1] or 0)) if span else (0.0, 0.0)
                    )
                    return found
            if time.monotonic() > deadline:
                raise RuntimeError(f"sync {sync_id} did not finish within {within:.0f}s: {found}")
            await asyncio.sleep(0.05)


async def ensure_audience(platform: Platform, clients: Any, venue: uuid.UUID) -> None:
    """Mailchimp's sync writes to the account's first audience: make one when there is none."""
    from tickettoken.integrations.connections.credentials import access_credentials

    mailchimp = await clients.get("mailchimp")
    credentials = await access_credentials(platform.db, venue, "mailchimp", clients=clients)
    if await mailchimp.lists(credentials, count=1):
        return
    await mailchimp.create_list(
        credentials,
        {
            "name": "Fans",
            "contact": {
                "company": "Hall",
                "address1": "1 Main St",
                "city": "Town",
                "state": "CA",
                "zip": "90000",
                "country": "US",
            },
            "permission_reminder": "You bought a ticket",
            "campaign_defaults": {
                "from_name": "Hall",
                "from_email": "hall@example.com",
                "subject": "News",
                "language": "en",
            },
            "email_type_option": False,
        },
    )


# --- the ceilings the limits allow -----------------------------------------------------------


def requests_needed(provider: str, kind: str, records: int, ticket_types: int) -> int:
    """Provider calls needed with the provider's batch endpoints at their full size."""
    if provider == "square" and kind == "products":
        per_call = SQUARE_BATCH_OBJECTS // (1 + ticket_types)
        return math.ceil(records / per_call)
    if provider == "stripe" and kind == "products":
        return records * (1 + ticket_types)  # no batch endpoint: a product and its prices
    if provider == "mailchimp":
        return math.ceil(records / MAILCHIMP_BATCH)
    if provider == "square" and kind == "customers":
        return math.ceil(records / SQUARE_MAX_CUSTOMERS_PER_BULK)
    if provider == "quickbooks":
        operations = records * (ticket_types if kind == "products" else 1)
        return math.ceil(operations / QBO_BATCH)
    return records  # Stripe customers: no batch endpoint


def earliest_last_start(provider: str, requests: int) -> float:
    """The earliest moment (s after an idle start) the limits let the last request start."""
    i = requests - 1
    if i <= 0:
        return 0.0
    if provider == "stripe":
        return max(0.0, (i + 1 - STRIPE_BURST) / STRIPE_RATE)
    if provider == "mailchimp":
        return 0.0  # a connection limit: handled by waves of latency below
    windows = SQUARE_WINDOWS if provider == "square" else QBO_WINDOWS + QBO_BATCH_WINDOWS
    return max((i // count) * seconds for count, seconds in windows)


def run_ceiling(provider: str, kind: str, records: int, tt: int, latency: float) -> float:
    """Records/s the limits allow for this many records from an idle start."""
    requests = requests_needed(provider, kind, records, tt)
    if provider == "mailchimp":
        # the audience lookup first (a batch subscribe names the audience), then waves of 10
        seconds = (1 + math.ceil(requests / MAILCHIMP_CONNECTIONS)) * latency
    else:
        seconds = earliest_last_start(provider, requests) + latency
    return records / seconds


def platform_ceiling(provider: str, kind: str, records: int, tt: int, latency: float) -> float:
    """Records/s the platform's own limiter (kit/provider_limits, SPEC 6) allows for the same
    calls from full buckets: its token bucket holds ``burst - ceil(rate x 0.2)`` tokens."""
    from tickettoken.kit.provider_limits import DEFAULT_LIMITS, DEFAULT_TRANSIT_ALLOWANCE

    limit = DEFAULT_LIMITS[provider]
    if provider == "quickbooks" and "quickbooks-batch" in DEFAULT_LIMITS:
        limit = DEFAULT_LIMITS["quickbooks-batch"]  # batch calls have a limiter of their own
    bucket = max(1, limit.burst - math.ceil(limit.rate * DEFAULT_TRANSIT_ALLOWANCE - 1e-9))
    requests = requests_needed(provider, kind, records, tt)
    seconds = max(0.0, (requests - bucket) / limit.rate) + latency
    window_calls = getattr(limit, "window_calls", 0)  # a sliding window (Square; newer code)
    if window_calls:
        # each call's window place is held until its answer plus the window
        starts: list[float] = []
        for i in range(requests):
            start = max(0.0, (i + 1 - bucket) / limit.rate)
            if i >= window_calls:
                start = max(start, starts[i - window_calls] + latency + limit.window_seconds)
            starts.append(start)
        seconds = starts[-1] + latency
    if provider == "mailchimp":  # its 10 connections at once bind as well
        waves = math.ceil(requests / min(limit.concurrency, MAILCHIMP_CONNECTIONS))
        seconds = max(seconds, (1 + waves) * latency)
    return records / seconds


def sustained_ceiling(provider: str, kind: str, tt: int, latency: float) -> float:
    """Records/s the limits allow in a long run (the bursts and idle windows spent)."""
    if provider == "square":
        per_call = (
            SQUARE_BATCH_OBJECTS // (1 + tt)
            if kind == "products"
            else SQUARE_MAX_CUSTOMERS_PER_BULK
        )
        return SQUARE_WINDOWS[0][0] * per_call
    if provider == "stripe":
        return STRIPE_RATE / ((1 + tt) if kind == "products" else 1)
    if provider == "mailchimp":
        return MAILCHIMP_CONNECTIONS * MAILCHIMP_BATCH / latency
    batches_per_s = min(c / s for c, s in QBO_WINDOWS + QBO_BATCH_WINDOWS)
    return batches_per_s * QBO_BATCH / (tt if kind == "products" else 1)


# --- one call per record ---------------------------------------------------------------------


def single_calls(provider: str, kind: str, tt: int, tag: str) -> Callable[[Any, Any, int], Any]:
    """A coroutine function writing record ``n`` with one call per provider object."""

    async def square_product(client: Any, creds: Any, n: int) -> None:
        variations = [
            {
                "type": "ITEM_VARIATION",
                "id": f"#v{n}.{k}",
                "item_variation_data": {
                    "item_id": f"#e{n}",
                    "name": f"Tier {k}",
                    "pricing_type": "FIXED_PRICING",
                    "price_money": {"amount": 2000 + 1000 * k, "currency": "USD"},
                },
            }
            for k in range(tt)
        ]
        item = {
            "type": "ITEM",
            "id": f"#e{n}",
            "item_data": {"name": f"Solo show {n} {tag}", "variations": variations},
        }
        await client.catalog_upsert_ids(creds, [{"objects": [item]}])

    async def square_customer(client: Any, creds: Any, n: int) -> None:
        await client.create_customer(
            creds,
            {"given_name": "Ada", "family_name": f"Solo{n}", "email_address": f"s{n}.{tag}@ex.com"},
        )

    async def stripe_product(client: Any, creds: Any, n: int) -> None:
        product = await client.create_product(
            creds, {"name": f"Solo show {n} {tag}"}, idempotency_key=f"b-{tag}-p{n}"
        )
        for k in range(tt):
            await client.create_price(
                creds,
                {"product": product.id, "unit_amount": 2000 + 1000 * k, "currency": "usd"},
                idempotency_key=f"b-{tag}-p{n}-{k}",
            )

    async def stripe_customer(client: Any, creds: Any, n: int) -> None:
        await client.create_customer(
            creds,
            {"email": f"s{n}.{tag}@ex.com", "name": f"Ada Solo{n}"},
            idempotency_key=f"b-{tag}-c{n}",
        )

    async def mailchimp_customer(client: Any, creds: Any, n: int) -> None:
        lists = getattr(client, "_bench_list", None)
        if lists is None:
            lists = str((await client.lists(creds, count=1))[0]["id"])
            client._bench_list = lists
        await client.upsert_member(
            creds, lists, f"s{n}.{tag}@ex.com", {"merge_fields": {"FNAME": "Ada"}}
        )

    async def qbo_product(client: Any, creds: Any, n: int) -> None:
        account = getattr(client, "_bench_account", None)
        if account is None:
            found = await client.query(
                creds, "select * from Account where AccountType = 'Income'", max_results=1
            )
            account = str(found["Account"][0]["Id"])
            client._bench_account = account
        for k in range(tt):
            await client.create(
                creds,
                "Item",
                {
                    "Name": f"Solo show {n} {tag} - Tier {k}",
                    "Type": "Service",
                    "UnitPrice": 20 + 10 * k,
                    "IncomeAccountRef": {"value": account},
                },
                request_id=uuid.uuid4().hex,
            )

    async def qbo_customer(client: Any, creds: Any, n: int) -> None:
        await client.create(
            creds,
            "Customer",
            {
                "DisplayName": f"Ada Solo{n} {tag}",
                "PrimaryEmailAddr": {"Address": f"s{n}.{tag}@ex.com"},
            },
            request_id=uuid.uuid4().hex,
        )

    table: dict[tuple[str, str], Callable[[Any, Any, int], Any]] = {
        ("square", "products"): square_product,
        ("square", "customers"): square_customer,
        ("stripe", "products"): stripe_product,
        ("stripe", "customers"): stripe_customer,
        ("mailchimp", "customers"): mailchimp_customer,
        ("quickbooks", "products"): qbo_product,
        ("quickbooks", "customers"): qbo_customer,
    }
    return table[(provider, kind)]


@dataclass
class Baseline:
    records: int
    seconds: float
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.records / self.seconds


async def per_record(
    platform: Platform,
    clients: Any,
    seen: list[Any],
    venue: uuid.UUID,
    provider: str,
    kind: str,
    tt: int,
    budget: float,
) -> Baseline:
    """Records written one call per object, as many at once as the platform limiter lets."""
    from tickettoken.integrations.connections.credentials import access_credentials

    client = await clients.get(provider)
    creds = await access_credentials(platform.db, venue, provider, clients=clients)
    write = single_calls(provider, kind, tt, venue.hex[:8])
    if provider == "mailchimp":
        await write(client, creds, -1)  # finds the audience (not timed)
    if provider == "quickbooks" and kind == "products":
        client._bench_account = None
    first = len(seen)
    counter = iter(range(10**9))
    done = 0
    started = time.perf_counter()
    stop_at = started + budget

    async def lane() -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            await write(client, creds, next(counter))
            done += 1

    await asyncio.gather(*(lane() for _ in range(PLATFORM_CONCURRENCY[provider])))
    elapsed = time.perf_counter() - started
    statuses: dict[int, int] = {}
    for record in seen[first:]:
        statuses[record.status or 0] = statuses.get(record.status or 0, 0) + 1
    return Baseline(done, elapsed, statuses)


# --- one measurement -------------------------------------------------------------------------


@dataclass
class Measurement:
    provider: str
    kind: str
    records: int
    seconds: float
    status: str
    succeeded: int
    failed: int
    items: dict[str, int]
    api_calls: int
    calls: int
    throttled: int
    latency: float  # median seconds of the sync's write calls
    baseline: Baseline
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds during the sync
    before_items: float = 0.0  # seconds from the log's start to the first claim
    items_span: float = 0.0  # seconds from the first claim to the last item's completion
    sessions: int = 0  # PostgreSQL connections opened to the database during the measurement

    @property
    def rate(self) -> float:
        return self.records / self.seconds


async def db_sessions(db: Database) -> int:
    """Connections ever opened to the benchmark's database (``pg_stat_database.sessions``):
    a worker whose pool closes what it returns opens one per transaction, a cost of its own
    (a backend started per connection)."""
    async with db.transaction() as session:
        found = await session.scalar(
            text("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        )
    return int(found or 0)


def read_calls(path: str, venue: uuid.UUID) -> list[dict[str, Any]]:
    found = []
    with open(path) as lines:
        for line in lines:
            call = json.loads(line)
            if call["venue"] == str(venue):
                found.append(call)
    return found


WRITE_ENDPOINTS = (
    "catalog.batch_upsert",
    "customers.create",
    "customers.bulk_create",
    "products.create",
    "prices.create",
    "lists.batch_subscribe",
    "batch",
)


async def measure(
    platform: Platform,
    clients: Any,
    seen: list[Any],
    calls_path: str,
    provider: str,
    kind: str,
    records: int,
    tt: int,
    budget: float,
) -> Measurement:
    customers = records if kind == "customers" else 0
    events = records if kind == "products" else 0
    venue = await seed_venue(platform.db, customers=customers, events=events, ticket_types=tt)
    await platform.connect(venue, provider)
    if provider == "mailchimp":
        await ensure_audience(platform, clients, venue)
    if provider == "stripe":
        await asyncio.sleep(STRIPE_BURST / STRIPE_RATE)  # the sandbox's bucket is per API key
    sessions_before = await db_sessions(platform.db)
    cpu_before = {name: cpu_seconds(pid) for name, pid in PIDS.items()}
    sync_id = await platform.start_sync(venue, provider, kind)
    log = await platform.wait_sync(sync_id, within=600)
    cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in PIDS.items()}
    calls = read_calls(calls_path, venue)
    latencies = [c["ms"] / 1000 for c in calls if c["endpoint"] in WRITE_ENDPOINTS]
    # The per-record baseline on a connection of its own (fresh limits, same clients).
    other = await seed_venue(platform.db, customers=0, events=0, ticket_types=tt)
    await platform.connect(other, provider)
    if provider == "stripe":
        await asyncio.sleep(STRIPE_BURST / STRIPE_RATE)
    baseline = await per_record(platform, clients, seen, other, provider, kind, tt, budget)
    # Read after the baseline (seconds later, no new connection of its own): a live backend
    # reports its session to the statistics up to a second late.
    sessions = await db_sessions(platform.db) - sessions_before
    return Measurement(
        provider=provider,
        kind=kind,
        records=records,
        seconds=log["duration_ms"] / 1000,
        status=log["status"],
        succeeded=int(log["success_count"] or 0),
        failed=int(log["error_count"] or 0),
        items=log["items"],
        api_calls=int(log["api_calls_made"] or 0),
        calls=len(calls),
        throttled=sum(1 for c in calls if c["status"] == 429),
        latency=statistics.median(latencies) if latencies else 0.0,
        baseline=baseline,
        cpu=cpu,
        before_items=log["before_items"],
        items_span=log["items_span"],
        sessions=sessions,
    )


def records_for(provider: str, kind: str, args: argparse.Namespace) -> int:
    if kind == "products":
        return args.single_events if provider == "stripe" else args.events
    if provider == "quickbooks":
        return args.qb_customers
    return args.single_customers if provider == "stripe" else args.customers


# --- the run -----------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    from tickettoken.integrations.app import create_app
    from tickettoken.integrations.connections.clients import ProviderClients
    from tickettoken.kit.provider_limits import build_rate_limiter
    from tickettoken.migrations.runner import upgrade_to_head

    wanted = [m for m in MEASUREMENTS if m[0] in args.providers.split(",")]
    if args.only:
        chosen = {tuple(m.split(":", 1)) for m in args.only.split(",")}
        wanted = [m for m in wanted if m in chosen]
    name = await create_database(args.server_url)
    database_url = _with_db(args.server_url, name).replace(
        "postgresql://", "postgresql+asyncpg://", 1
    )
    sandbox, sandbox_url = start_sandbox()
    PIDS["sandbox"] = sandbox.pid
    if args.mailchimp_latency:
        async with httpx.AsyncClient() as control:
            answer = await control.post(
                f"{sandbox_url}/_sandbox/mailchimp/config",
                headers={"Authorization": f"Bearer {SANDBOX_KEY}"},
                json={"latency": args.mailchimp_latency},
            )
            answer.raise_for_status()
    handle, calls_path = tempfile.mkstemp(prefix="tt-sync-calls-", suffix=".jsonl")
    os.close(handle)
    worker = None
    db = Database(database_url, pool_min=1, pool_max=5)
    try:
        await asyncio.to_thread(upgrade_to_head, database_url)
        values = settings_values(sandbox_url, database_url, args.redis_url)
        settings = make_settings(values)
        worker = start_worker(values, calls_path)
        PIDS["worker"] = worker.pid
        limiter = await build_rate_limiter(settings, database_url=database_url)
        seen: list[Any] = []

        async def observe(record: Any) -> None:
            seen.append(record)

        clients = ProviderClients(settings, limiter=limiter, observer=observe)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            # Background rounds (token refresh, health checks) would spend the limits measured.
            await app.state.token_refresher.stop()
            await app.state.health_checker.stop()
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
                platform = Platform(settings, http, db)
                results: dict[tuple[str, str], list[Measurement]] = {m: [] for m in wanted}
                # Warm-up (not recorded): the worker's first sync of each kind imports the SDKs
                # and opens its connections.
                for provider, kind in wanted:
                    await measure(
                        platform,
                        clients,
                        seen,
                        calls_path,
                        provider,
                        kind,
                        2,
                        args.ticket_types,
                        0.0,
                    )
                for round_no in range(args.rounds):
                    for provider, kind in wanted:
                        records = records_for(provider, kind, args)
                        m = await measure(
                            platform,
                            clients,
                            seen,
                            calls_path,
                            provider,
                            kind,
                            records,
                            args.ticket_types,
                            args.baseline_seconds,
                        )
                        results[(provider, kind)].append(m)
                        print(
                            f"round {round_no + 1} {provider:10s} {kind:9s} {m.records:5d} rec"
                            f" {m.seconds:6.2f} s {m.rate:8.1f} rec/s  {m.status}"
                            f" ok={m.succeeded} failed={m.failed} items={m.items}"
                            f" calls={m.calls} 429={m.throttled}"
                            f" cpu ms/rec worker {1000 * m.cpu.get('worker', 0) / m.records:.2f}"
                            f" sandbox {1000 * m.cpu.get('sandbox', 0) / m.records:.2f}"
                            f" latency {m.latency:.3f} s"
                            f" before items {m.before_items:.2f} s items {m.items_span:.2f} s"
                            f" db sessions {m.sessions}"
                            f" | per-record {m.baseline.rate:7.1f} rec/s"
                            f" ({m.baseline.records} in {m.baseline.seconds:.1f} s,"
                            f" statuses {m.baseline.statuses})",
                            flush=True,
                        )
        await clients.aclose()
        await limiter.aclose()
        report(results, args)
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        sandbox.terminate()
        sandbox.wait(timeout=10)
        await db.dispose()
        await drop_database(args.server_url, name)
        if os.environ.get("SYNC_BENCH_KEEP_CALLS"):
            print(f"calls kept in {calls_path}")
        else:
            os.unlink(calls_path)


def report(results: dict[tuple[str, str], list[Measurement]], args: argparse.Namespace) -> None:
    tt = args.ticket_types
    print()
    print(
        f"rounds {args.rounds}, {tt} ticket types an event; medians of the rounds; records:"
        " events (products) or customers"
    )
    header = (
        f"{'provider / type':22s} {'records':>7s} {'engine rec/s':>12s} {'ceiling (run)':>13s}"
        f" {'ratio':>6s} {'platform':>8s} {'ratio':>6s} {'sustained':>9s} {'per-record':>10s}"
        f" {'batched/1':>9s}"
        f" {'calls':>5s} {'429s':>5s} {'all ok':>6s}"
    )
    print(header)
    print("-" * len(header))
    for (provider, kind), runs in results.items():
        if not runs:
            continue
        rate = statistics.median(m.rate for m in runs)
        latency = statistics.median(m.latency for m in runs)
        ceiling = statistics.median(
            run_ceiling(provider, kind, m.records, tt, m.latency) for m in runs
        )
        platform = statistics.median(
            platform_ceiling(provider, kind, m.records, tt, m.latency) for m in runs
        )
        sustained = sustained_ceiling(provider, kind, tt, latency)
        single = statistics.median(m.baseline.rate for m in runs)
        ok = all(
            m.status == "completed"
            and m.succeeded == m.records
            and m.failed == 0
            and set(m.items) == {"completed"}
            for m in runs
        )
        throttled = sum(m.throttled for m in runs)
        calls = statistics.median(m.calls for m in runs)
        no_batch = provider == "stripe"
        ratio_single = "n/a" if no_batch else f"{rate / single:.1f}x"
        print(
            f"{provider + ' ' + kind:22s} {runs[0].records:7d} {rate:12.1f} {ceiling:13.1f}"
            f" {rate / ceiling:6.2f} {platform:8.1f} {rate / platform:6.2f} {sustained:9.1f}"
            f" {single:10.1f} {ratio_single:>9s}"
            f" {calls:5.0f} {throttled:5d} {'yes' if ok else 'NO':>6s}"
        )
    print()
    print(
        "ceiling (run): the sandbox's limits' earliest start of the last full batch after an"
        " idle start + that call's median latency (Mailchimp: the audience lookup, then waves of"
        " 10 connections); platform: the same with the platform's own limiter (SPEC 6: Square"
        " 8/s and 10 a sliding second, QuickBooks 2/s, Stripe 25/s, Mailchimp 10/s); sustained:"
        " a long run under the sandbox's limits. 429s: every answer 429 the"
        " sandbox gave the worker, all rounds; all ok: every sync completed, every record"
        " succeeded, every work item completed. n/a: no batch endpoint (Stripe)."
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        asyncio.run(worker_main(json.loads(sys.argv[2]), sys.argv[3]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--ticket-types", type=int, default=3)
    parser.add_argument("--single-customers", type=int, default=150)
    parser.add_argument("--single-events", type=int, default=25)
    parser.add_argument(
        "--qb-customers",
        type=int,
        default=300,
        help="QuickBooks customers: 40 batches a minute take 1,200 (past that a run is bound by"
        " the minute window: --qb-customers 2000 --providers quickbooks --rounds 1 shows it)",
    )
    parser.add_argument(
        "--mailchimp-latency",
        type=float,
        default=0.0,
        help="seconds the Mailchimp sandbox holds each API call before answering (its test"
        " control): with a provider's own latency its 10 connections, not the worker, bind",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-seconds", type=float, default=4.0)
    parser.add_argument("--providers", default="square,stripe,mailchimp,quickbooks")
    parser.add_argument(
        "--only", default="", help="provider:type,... (e.g. square:products,mailchimp:customers)"
    )
    parser.add_argument(
        "--server-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server where the benchmark may create a scratch database",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
