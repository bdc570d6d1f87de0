"""Report and dashboard benchmark: every report and dashboard route of SPEC 4.1 at N orders.

Seeds ``--orders`` orders (default 100,000: 3 venues, 200 events, 50,000 customers, about
265,000 tickets over 12 months) into a scratch database with ``tickettoken seed --demo --orders
N`` (a real process, progress bar), starts the event service (``tickettoken serve event``, one
worker), then times each route as an administrator and as a venue admin, over the whole year and
one month, grouped by day, week and month: the first call (plans and prepared statements not yet
cached on the server; one unrelated request warms the process and its pool first) and the
median of ``--warm`` further calls. Prints a table with the 200 ms
(warm median) and 500 ms (first call) budgets of issue 12.

Caches: none of these routes reads through the event service's cache (``events/cache.py``
serves the event page, event lists, capacity and prices only), so every call here reaches
PostgreSQL; the service also runs without Redis, as in the flash-sale benchmark.

    .venv/bin/python bench/reports.py [--orders 100000] [--warm 10]
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres] [--keep] [--reuse NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tickettoken.kit.auth import mint_token  # noqa: E402
from tickettoken.kit.settings import Settings, to_asyncpg_url  # noqa: E402
from tickettoken.migrations.runner import upgrade_to_head  # noqa: E402

JWT_SECRET = "bench-" + uuid.uuid4().hex + uuid.uuid4().hex
TOKEN_SETTINGS = Settings(_env_file=None, environment="development", jwt_secret=JWT_SECRET)
WARM_BUDGET_MS, FIRST_BUDGET_MS = 200.0, 500.0


def dsn(url: str) -> str:
    return to_asyncpg_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


def with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def load_average() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def seed(url: str, orders: int) -> None:
    env = {**os.environ, "DATABASE_URL": url, "JWT_SECRET": JWT_SECRET}
    env["ENVIRONMENT"] = "development"
    env["PYTHONPATH"] = str(ROOT / "src")
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tickettoken", "seed", "--demo", "--orders", str(orders)],
        env=env,
        check=True,
    )
    print(f"seeded {orders} orders in {time.perf_counter() - started:.0f} s", flush=True)


def start_service(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ENVIRONMENT": "development",
        "DATABASE_URL": url,
        "JWT_SECRET": JWT_SECRET,
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT / "src"),
    }
    env.pop("REDIS_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "tickettoken", "serve", "event", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_ready(base: str) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"{base}/health/ready") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the event service did not start")
            await asyncio.sleep(0.2)


async def facts(url: str) -> tuple[str, str, int]:
    """The busiest venue and its busiest event; the number of charged orders."""
    conn = await asyncpg.connect(dsn(url))
    try:
        venue = await conn.fetchval(
            "SELECT venue_id FROM report_sales_daily GROUP BY 1 ORDER BY sum(orders) DESC LIMIT 1"
        )
        event = await conn.fetchval(
            "SELECT event_id FROM report_sales_daily WHERE venue_id = $1"
            " GROUP BY 1 ORDER BY sum(orders) DESC LIMIT 1",
            venue,
        )
        orders = await conn.fetchval("SELECT count(*) FROM orders")
        return str(venue), str(event), int(orders)
    finally:
        await conn.close()


def cases(venue: str, event: str) -> list[tuple[str, str, str, dict[str, str]]]:
    """(caller, route, window, query) for every report and dashboard route."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    year = {
        "from": (today - timedelta(days=365)).isoformat(),
        "to": (today + timedelta(days=1)).isoformat(),
    }
    month = {
        "from": (today - timedelta(days=30)).isoformat(),
        "to": (today + timedelta(days=1)).isoformat(),
    }
    now = datetime.now(UTC)
    year_instants = {
        "from": (now - timedelta(days=365)).isoformat(),
        "to": now.isoformat(),
    }
    local_year = {
        "start_date": (today - timedelta(days=365)).date().isoformat(),
        "end_date": (today + timedelta(days=60)).date().isoformat(),
    }
    local_month = {
        "start_date": (today - timedelta(days=30)).date().isoformat(),
        "end_date": today.date().isoformat(),
    }
    out: list[tuple[str, str, str, dict[str, str]]] = []
    for caller in ("admin", "venue_admin"):
        for group_by in ("day", "week", "month"):
            out.append((caller, "/api/v1/reports/sales", "year", {**year, "group_by": group_by}))
        out.append((caller, "/api/v1/reports/sales", "all time", {"group_by": "month"}))
        out.append((caller, "/api/v1/reports/sales", "year, instants", {**year_instants}))
        for group_by in ("day", "week"):
            out.append((caller, "/api/v1/reports/sales", "month", {**month, "group_by": group_by}))
        out.append(
            (caller, "/api/v1/reports/sales", "year, one event", {**year, "event_id": event})
        )
        for window, query in (("year", year), ("month", month), ("all time", {})):
            out.append((caller, "/api/v1/reports/venue-comparison", window, dict(query)))
            out.append((caller, "/api/v1/reports/customer-insights", window, dict(query)))
        # the slowest case (docs/decisions/reports.md): a window of many months that does not
        # hold every sale (6 months: about half the sales inside, half outside)
        for months in (6, 11):
            partial = {
                "from": (now - timedelta(days=30 * months)).isoformat(),
                "to": now.isoformat(),
            }
            window = f"{months} months (partial)"
            out.append((caller, "/api/v1/reports/customer-insights", window, partial))
        out.append((caller, f"/api/v1/venues/{venue}/dashboard", "-", {}))
        out.append((caller, f"/api/v1/venues/{venue}/analytics", "year", dict(local_year)))
        out.append((caller, f"/api/v1/venues/{venue}/analytics", "month", dict(local_month)))
        out.append((caller, f"/api/v1/events/{event}/analytics", "-", {}))
    return out


async def time_case(
    http: aiohttp.ClientSession,
    base: str,
    headers: dict[str, str],
    path: str,
    query: dict[str, str],
    warm: int,
) -> tuple[float, float]:
    timings = []
    for _ in range(warm + 1):
        started = time.perf_counter()
        async with http.get(f"{base}{path}", params=query, headers=headers) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"{path} {query}: {response.status} {body[:300]!r}")
        timings.append((time.perf_counter() - started) * 1000)
    return timings[0], statistics.median(timings[1:])


async def run(args: argparse.Namespace) -> None:
    server_url = args.database_url
    name = args.reuse or f"tt_bench_reports_{uuid.uuid4().hex[:8]}"
    url = with_database(to_asyncpg_url(server_url), name)
    if args.reuse is None:
        conn = await asyncpg.connect(dsn(server_url))
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        await asyncio.to_thread(upgrade_to_head, url)
        print(f"load average before seeding: {load_average()}", flush=True)
        await asyncio.to_thread(seed, url, args.orders)
    venue, event, orders = await facts(url)
    port = free_port()
    service = start_service(url, port)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(base)
        tokens = {
            "admin": mint_token(role="admin", sub="bench-admin", settings=TOKEN_SETTINGS),
            "venue_admin": mint_token(
                role="venue_admin", sub="bench-venue", venue_ids=[venue], settings=TOKEN_SETTINGS
            ),
        }
        print(f"load average at the start of the timings: {load_average()}", flush=True)
        rows = []
        async with aiohttp.ClientSession() as http:
            # the process's own first request (imports, pool connections) is not a report's
            warm_up = {"Authorization": f"Bearer {tokens['admin']}"}
            async with http.get(f"{base}/api/v1/venues", headers=warm_up) as response:
                await response.read()
            for caller, path, window, query in cases(venue, event):
                headers = {"Authorization": f"Bearer {tokens[caller]}"}
                first, median = await time_case(http, base, headers, path, query, args.warm)
                rows.append((caller, path, window, query, first, median))
        print(f"load average at the end: {load_average()}", flush=True)
    finally:
        service.terminate()
        service.wait(timeout=30)
        if not args.keep and args.reuse is None:
            conn = await asyncpg.connect(dsn(server_url))
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.close()
    print(f"\n{orders} orders; database {name}{' (kept)' if args.keep else ''}\n")
    print("| caller | route | window | group_by | first (ms) | warm median (ms) | budget |")
    print("|---|---|---|---|---|---|---|")
    misses = 0
    for caller, path, window, query, first, median in rows:
        route = path.replace(venue, "{id}").replace(event, "{id}")
        within = median < WARM_BUDGET_MS and first < FIRST_BUDGET_MS
        misses += not within
        print(
            f"| {caller} | `{route}` | {window} | {query.get('group_by', '-')} | {first:.0f}"
            f" | {median:.0f} | {'ok' if within else '**over**'} |"
        )
    print(f"\n{len(rows) - misses} of {len(rows)} within budget")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--warm", type=int, default=10)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="a PostgreSQL server where the benchmark may create a scratch database",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--reuse", help="time an already seeded database of this name")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
