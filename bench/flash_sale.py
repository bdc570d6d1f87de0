"""Flash-sale benchmark: reservations/s through the HTTP API vs pgbench's hot-row ceiling.

In one run on the same PostgreSQL server:
  (a) the event service (real processes, ``tickettoken serve event``) takes reservations from
      ``--clients`` concurrent keep-alive HTTP connections, all on ONE ticket type, each request a
      new buyer (customer token, minted before the clock starts) asking for 1 ticket. The load
      comes from ``wrk`` (C, like pgbench; ``bench/flash_sale.lua`` rotates the tokens and counts
      every status) when it is installed, else from an aiohttp client in this process (which
      competes with the server for the CPU; the output says which ran). Granted = the 201s
      the client received within the timed run, cross-checked against the growth of the ticket
      type's ``reserved`` counter in the database; after all rounds the database is checked for
      oversell (``sold + reserved <= quantity`` and ``reserved`` = the sum of held reservations);
  (b) pgbench runs ``UPDATE hot SET x = x - 1 WHERE id = 1`` with the same number of clients for
      the same time: the ceiling of any design that decrements one hot row per sale.
It prints both rates and their ratio (target >= 0.5), and with wrk the CPU milliseconds each
granted reservation cost the service's processes and the database's backends (a cost, which a
busy machine disturbs far less than a rate: the reading for before/after comparisons).

    .venv/bin/python bench/flash_sale.py [--clients 32] [--seconds 10] [--instances 1]
        [--workers 2] [--client wrk|aiohttp]
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tickettoken.kit.auth import mint_token  # noqa: E402
from tickettoken.kit.settings import Settings, to_asyncpg_url  # noqa: E402
from tickettoken.migrations.runner import upgrade_to_head  # noqa: E402

PORTS = range(4380, 4399)
JWT_SECRET = "bench-" + uuid.uuid4().hex + uuid.uuid4().hex
WRK_SCRIPT = Path(__file__).with_name("flash_sale.lua")
TOKEN_SETTINGS = Settings(_env_file=None, environment="development", jwt_secret=JWT_SECRET)


def mint_tokens(count: int) -> list[str]:
    """``count`` customer tokens, each for a new buyer."""
    return [
        mint_token(role="customer", sub=uuid.uuid4().hex, settings=TOKEN_SETTINGS)
        for _ in range(count)
    ]


def dsn(url: str) -> str:
    return to_asyncpg_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


def with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


async def create_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(dsn(server_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(dsn(server_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def create_hot_ticket_type(url: str, quantity: int) -> tuple[str, str]:
    conn = await asyncpg.connect(dsn(url))
    try:
        venue = await conn.fetchval(
            "INSERT INTO venues (name, capacity) VALUES ('Bench Arena', 10000000) RETURNING id"
        )
        event = await conn.fetchval(
            """
            INSERT INTO events (venue_id, name, category, start_date, end_date, capacity, status)
            VALUES ($1, 'Bench Flash Sale', 'concert', now() + interval '30 days',
                    now() + interval '30 days 3 hours', $2, 'published')
            RETURNING id
            """,
            venue,
            quantity,
        )
        ticket_type = await conn.fetchval(
            """
            INSERT INTO ticket_types (event_id, name, price, quantity, max_per_order)
            VALUES ($1, 'General', 49.00, $2, 4) RETURNING id
            """,
            event,
            quantity,
        )
        return str(event), str(ticket_type)
    finally:
        await conn.close()


def start_servers(
    url: str, instances: int, workers: int, pool_size: int = 16
) -> tuple[list[subprocess.Popen[bytes]], list[str]]:
    env = {
        **os.environ,
        "ENVIRONMENT": "development",
        "DATABASE_URL": url,
        "JWT_SECRET": JWT_SECRET,
        "LOG_LEVEL": "WARNING",
        # Equal: the kit's pool keeps pool_min connections and closes the overflow on return,
        # so a smaller minimum opens a new PostgreSQL backend for most requests under load.
        "DB_POOL_MIN": str(pool_size),
        "DB_POOL_MAX": str(pool_size),
    }
    env.pop("REDIS_URL", None)
    ports = list(PORTS)[:instances]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tickettoken",
                "serve",
                "event",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    return processes, urls


async def wait_ready(urls: list[str]) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as http:
        for url in urls:
            while True:
                try:
                    async with http.get(f"{url}/health/ready") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url} not ready")
                await asyncio.sleep(0.2)


async def drive_reservations(
    urls: list[str], event_id: str, ticket_type_id: str, clients: int, seconds: float
) -> tuple[int, int, dict[int, int]]:
    """(granted tickets, requests, status counts) over ``seconds`` of ``clients`` loops.

    Every request is a new buyer (its own customer token, minted before the clock starts).
    """
    settings = TOKEN_SETTINGS
    tokens = mint_tokens(int(1500 * (seconds + 1)))
    statuses: dict[int, int] = {}
    granted = 0
    body = {"ticket_type_id": ticket_type_id, "quantity": 1}
    connector = aiohttp.TCPConnector(limit=clients * 2)
    async with aiohttp.ClientSession(connector=connector) as http:
        stop_at = 0.0

        async def client_loop(index: int) -> None:
            nonlocal granted
            url = f"{urls[index % len(urls)]}/api/v1/events/{event_id}/reservations"
            while time.monotonic() < stop_at:
                token = (
                    tokens.pop()
                    if tokens
                    else mint_token(role="customer", sub=uuid.uuid4().hex, settings=settings)
                )
                async with http.post(
                    url, json=body, headers={"Authorization": f"Bearer {token}"}
                ) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                    if response.status == 201:
                        granted += 1

        stop_at = time.monotonic() + 1.0  # warm-up (connections, pools), not counted
        await asyncio.gather(*(client_loop(i) for i in range(clients)))
        statuses.clear()
        granted = 0
        stop_at = time.monotonic() + seconds
        await asyncio.gather(*(client_loop(i) for i in range(clients)))
    return granted, sum(statuses.values()), statuses


def run_wrk(
    url: str,
    event_id: str,
    ticket_type_id: str,
    clients: int,
    seconds: int,
    tokens_per_second: int,
    threads: int,
) -> tuple[int, float, dict[int, int], int, str]:
    """One wrk run: (requests, duration in s, status counts, tokens reused, error counts)."""
    tokens = mint_tokens(tokens_per_second * seconds)
    body = f'{{"ticket_type_id": "{ticket_type_id}", "quantity": 1}}'
    path = f"/api/v1/events/{event_id}/reservations"
    with tempfile.NamedTemporaryFile("w", suffix=".tokens", delete=False) as file:
        file.write("\n".join(tokens) + "\n")
    try:
        result = subprocess.run(
            [
                shutil.which("wrk") or "wrk",
                "-t",
                str(threads),
                "-c",
                str(clients),
                "-d",
                f"{seconds}s",
                "--timeout",
                "30s",
                "-s",
                str(WRK_SCRIPT),
                url,
                "--",
                file.name,
                path,
                body,
                str(threads),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        os.unlink(file.name)
    line = next((x for x in result.stdout.splitlines() if x.startswith("FLASH_SALE_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"unexpected wrk output: {result.stdout}{result.stderr}")
    fields = dict(item.split("=", 1) for item in line.split()[1:])
    statuses = {
        int(key.removeprefix("status_")): int(value)
        for key, value in fields.items()
        if key.startswith("status_")
    }
    return (
        int(fields["requests"]),
        int(fields["duration_us"]) / 1e6,
        statuses,
        int(fields["reused"]),
        fields["errors"],
    )


async def drive_reservations_wrk(
    db_url: str,
    urls: list[str],
    event_id: str,
    ticket_type_id: str,
    clients: int,
    seconds: float,
    tokens_per_second: int,
    server_pids: list[int],
) -> tuple[float, int, dict[int, int], tuple[float, float]]:
    """(granted tickets per second, requests, status counts, CPU ms per granted ticket of the
    service and of PostgreSQL) of a timed wrk run after a warm-up.

    Granted = the 201s wrk received within its duration (as pgbench counts transactions). The
    database must agree: ``reserved`` grew by exactly that, plus at most one hold per connection
    for requests still in flight when wrk stopped (the server completes them, wrk does not wait).
    """
    if len(urls) != 1:
        raise SystemExit("--client wrk drives one instance; use --client aiohttp for several")
    threads = min(2, clients)
    await asyncio.to_thread(
        run_wrk, urls[0], event_id, ticket_type_id, clients, 1, tokens_per_second, threads
    )
    await asyncio.sleep(1.0)  # the warm-up's requests in flight finish
    before = await reserved_now(db_url, ticket_type_id)
    cpu_before = await cpu_seconds(db_url, server_pids)
    requests, duration, statuses, reused, errors = await asyncio.to_thread(
        run_wrk,
        urls[0],
        event_id,
        ticket_type_id,
        clients,
        max(1, int(seconds)),
        tokens_per_second,
        threads,
    )
    cpu_after = await cpu_seconds(db_url, server_pids)  # the last in-flight holds may follow
    await asyncio.sleep(1.0)
    in_database = await reserved_now(db_url, ticket_type_id) - before
    granted = statuses.get(201, 0)
    per_ticket = tuple(
        1000 * (after - start) / max(granted, 1)
        for start, after in zip(cpu_before, cpu_after, strict=True)
    )
    if reused:
        raise SystemExit(f"wrk ran out of tokens ({reused} reused); raise --tokens-per-second")
    if errors != "0/0/0/0":
        raise SystemExit(f"wrk socket errors (connect/read/write/timeout): {errors}")
    if not granted <= in_database <= granted + clients:
        raise SystemExit(f"database granted {in_database} tickets, wrk counted {granted} 201s")
    return granted / duration, requests, statuses, (per_ticket[0], per_ticket[1])


def _process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (Linux /proc), 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    found = [pid]
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        found.extend(_descendants(int(child)))
    return found


async def cpu_seconds(db_url: str, server_pids: list[int]) -> tuple[float, float]:
    """CPU seconds used so far by the event service's processes and by the PostgreSQL backends
    of the benchmark's database: divided by the tickets granted between two readings, the cost
    of a reservation, which a busy machine disturbs far less than a rate."""
    server = sum(_process_cpu_seconds(p) for root in server_pids for p in _descendants(root))
    conn = await asyncpg.connect(dsn(db_url))
    try:
        backends = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return server, sum(_process_cpu_seconds(row["pid"]) for row in backends)


async def reserved_now(url: str, ticket_type_id: str) -> int:
    conn = await asyncpg.connect(dsn(url))
    try:
        value = await conn.fetchval(
            "SELECT reserved FROM ticket_types WHERE id = $1", uuid.UUID(ticket_type_id)
        )
        return int(value)
    finally:
        await conn.close()


async def check_oversell(url: str, ticket_type_id: str) -> tuple[int, int, int, int]:
    conn = await asyncpg.connect(dsn(url))
    try:
        row = await conn.fetchrow(
            "SELECT quantity, sold, reserved FROM ticket_types WHERE id = $1",
            uuid.UUID(ticket_type_id),
        )
        held = await conn.fetchval(
            "SELECT coalesce(sum(quantity), 0) FROM reservations"
            " WHERE ticket_type_id = $1 AND status = 'held'",
            uuid.UUID(ticket_type_id),
        )
        return int(row["quantity"]), int(row["sold"]), int(row["reserved"]), int(held)
    finally:
        await conn.close()


def pgbench_tps(url: str, clients: int, seconds: float) -> float:
    pgbench = shutil.which("pgbench") or "/usr/lib/postgresql/15/bin/pgbench"
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write("UPDATE hot SET x = x - 1 WHERE id = 1;\n")
    try:
        result = subprocess.run(
            [
                pgbench,
                "-n",
                "-c",
                str(clients),
                "-j",
                "2",
                "-T",
                str(int(seconds)),
                "-f",
                script.name,
                "-d",
                dsn(url),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        os.unlink(script.name)
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", result.stdout)
    if match is None:
        raise RuntimeError(f"unexpected pgbench output: {result.stdout}")
    return float(match.group(1))


async def prepare_pgbench_table(url: str) -> None:
    conn = await asyncpg.connect(dsn(url))
    try:
        await conn.execute(
            "CREATE TABLE hot (id int PRIMARY KEY, x bigint NOT NULL);"
            " INSERT INTO hot VALUES (1, 1000000000)"
        )
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quantity", type=int, default=10_000_000)
    parser.add_argument(
        "--client",
        choices=["auto", "wrk", "aiohttp"],
        default="auto",
        help="load generator for (a): wrk when installed (auto), else aiohttp",
    )
    parser.add_argument(
        "--tokens-per-second",
        type=int,
        default=8000,
        help="tokens minted per second of a wrk run (each request a new buyer)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="a PostgreSQL server where the benchmark may create a scratch database",
    )
    args = parser.parse_args()
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "aiohttp"

    server_url = args.database_url
    name = f"tt_bench_{uuid.uuid4().hex[:10]}"
    await create_database(server_url, name)
    url = with_database(to_asyncpg_url(server_url), name)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        await asyncio.to_thread(upgrade_to_head, url)
        await prepare_pgbench_table(url)
        event_id, ticket_type_id = await create_hot_ticket_type(url, args.quantity)
        processes, urls = start_servers(url, args.instances, args.workers)
        await wait_ready(urls)
        # Alternate (a) and (b) in rounds and take medians: on a shared machine the load drifts,
        # and a ratio of two measurements taken minutes apart would mostly measure that drift.
        api_rates: list[float] = []
        pg_rates: list[float] = []
        statuses: dict[int, int] = {}
        requests = 0
        cpu_costs: list[tuple[float, float]] = []
        for _ in range(args.rounds):
            if client == "wrk":
                rate, sent, counts, cost = await drive_reservations_wrk(
                    url,
                    urls,
                    event_id,
                    ticket_type_id,
                    args.clients,
                    args.seconds,
                    args.tokens_per_second,
                    [process.pid for process in processes],
                )
                cpu_costs.append(cost)
            else:
                granted, sent, counts = await drive_reservations(
                    urls, event_id, ticket_type_id, args.clients, args.seconds
                )
                rate = granted / args.seconds
            api_rates.append(rate)
            requests += sent
            for status, count in counts.items():
                statuses[status] = statuses.get(status, 0) + count
            pg_rates.append(await asyncio.to_thread(pgbench_tps, url, args.clients, args.seconds))
        quantity, sold, reserved, held = await check_oversell(url, ticket_type_id)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        await drop_database(server_url, name)

    api_rate = statistics.median(api_rates)
    pg_rate = statistics.median(pg_rates)
    oversell = max(sold + reserved - quantity, 0)
    print(
        f"clients={args.clients} seconds={args.seconds:g} x {args.rounds} rounds"
        f" instances={args.instances} workers={args.workers} client={client}"
        f" cpus={os.cpu_count()}"
        f" load average={os.getloadavg()[0]:.1f}"
    )
    print("per round (a): " + ", ".join(f"{r:.0f}" for r in api_rates))
    print("per round (b): " + ", ".join(f"{r:.0f}" for r in pg_rates))
    print(f"{'measure':<44}{'value':>12}")
    print(f"{'(a) HTTP reservations/s (median)':<44}{api_rate:>12.1f}")
    print(f"{'(b) pgbench hot-row UPDATEs/s (median)':<44}{pg_rate:>12.1f}")
    print(f"{'ratio (a)/(b)':<44}{api_rate / pg_rate:>12.2f}")
    if cpu_costs:
        print(
            "CPU ms per reservation per round (service/PostgreSQL): "
            + ", ".join(f"{a:.3f}/{b:.3f}" for a, b in cpu_costs)
        )
        service_ms = statistics.median(cost[0] for cost in cpu_costs)
        postgres_ms = statistics.median(cost[1] for cost in cpu_costs)
        print(f"{'CPU ms per reservation, service (median)':<44}{service_ms:>12.3f}")
        print(f"{'CPU ms per reservation, PostgreSQL (median)':<44}{postgres_ms:>12.3f}")
    print(f"responses: {dict(sorted(statuses.items()))} of {requests} requests")
    print(
        f"ticket type: quantity={quantity} sold={sold} reserved={reserved}"
        f" held in reservations={held} (warm-up holds included)"
    )
    print(f"oversell: {oversell}  (reserved == held rows: {reserved == held})")
    if oversell or reserved != held or any(status >= 500 for status in statuses):
        raise SystemExit("FAILED: oversell, inconsistent counters or 5xx")


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
