"""What the report rollup triggers (migration 0009) cost the order writes.

In one scratch database, ``--clients`` connections each run the order life of the platform as
SQL, one transaction per step: the confirmation (order pending, one item, its tickets), the
payment (status paid, ``paid_at``), and for one order in ten a partial refund
(``refunded_amount``, ``partially_refunded``). Rounds alternate with the rollup triggers enabled
and disabled (``ALTER TABLE ... DISABLE TRIGGER`` of the 0009 rollup triggers; the one that
sets ``orders.venue_id`` stays on), for orders spread
over ``--events`` events and for all orders on one event (every payment of the round updates the
same rollup row: the worst case for its row lock). Prints orders/s per round, the medians and
the ratio on/off. Buyers are 2,000 customers (one customer for every order would make its
rollup rows a hot row that real sales do not have).

    .venv/bin/python bench/report_writes.py [--clients 8] [--seconds 5] [--rounds 3]
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tickettoken.kit.settings import to_asyncpg_url  # noqa: E402
from tickettoken.migrations.runner import upgrade_to_head  # noqa: E402

rollup_names = importlib.import_module("tickettoken.migrations.versions.0009_report_rollups")


# orders.venue_id is NOT NULL and set by this trigger: on in both modes (one lookup per order)
KEPT = ("orders_report_venue", "events_report_moved")


def dsn(url: str) -> str:
    return to_asyncpg_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


async def catalog(
    conn: asyncpg.Connection, events: int
) -> tuple[list[tuple[uuid.UUID, uuid.UUID]], list[uuid.UUID]]:
    venue = await conn.fetchval(
        "INSERT INTO venues (name, capacity) VALUES ('Write Bench', 10000000) RETURNING id"
    )
    pairs = []
    for number in range(events):
        event = await conn.fetchval(
            "INSERT INTO events (venue_id, name, category, start_date, end_date, capacity, status)"
            " VALUES ($1, $2, 'concert', now() + interval '30 days',"
            " now() + interval '30 days 3 hours', 10000000, 'published') RETURNING id",
            venue,
            f"Write bench {number}",
        )
        ticket_type = await conn.fetchval(
            "INSERT INTO ticket_types (event_id, name, price, quantity)"
            " VALUES ($1, 'GA', 40, 10000000) RETURNING id",
            event,
        )
        pairs.append((event, ticket_type))
    customers = [
        row["id"]
        for row in await conn.fetch(
            "INSERT INTO customers (venue_id, email)"
            " SELECT $1, 'writer' || n || '@example.com' FROM generate_series(1, 2000) n"
            " RETURNING id",
            venue,
        )
    ]
    return pairs, customers


async def order_life(
    conn: asyncpg.Connection,
    event: uuid.UUID,
    ticket_type: uuid.UUID,
    customer: uuid.UUID,
    refund: bool,
) -> None:
    async with conn.transaction():
        order = await conn.fetchval(
            "INSERT INTO orders (customer_id, event_id, total) VALUES ($1, $2, 80) RETURNING id",
            customer,
            event,
        )
        item = await conn.fetchval(
            "INSERT INTO order_items (order_id, ticket_type_id, quantity, unit_price, subtotal)"
            " VALUES ($1, $2, 2, 40, 80) RETURNING id",
            order,
            ticket_type,
        )
        await conn.executemany(
            "INSERT INTO tickets (order_id, order_item_id, event_id, ticket_type_id, customer_id,"
            " code) VALUES ($1, $2, $3, $4, $5, $6)",
            [(order, item, event, ticket_type, customer, uuid.uuid4().hex) for _ in range(2)],
        )
    async with conn.transaction():
        await conn.execute(
            "UPDATE orders SET status = 'paid', paid_at = now() WHERE id = $1", order
        )
    if refund:
        async with conn.transaction():
            await conn.execute(
                "UPDATE orders SET status = 'partially_refunded', refunded_amount = 20"
                " WHERE id = $1",
                order,
            )


async def round_rate(
    url: str,
    pairs: list[tuple[uuid.UUID, uuid.UUID]],
    customers: list[uuid.UUID],
    clients: int,
    seconds: float,
) -> float:
    done = 0
    stop = time.monotonic() + seconds

    async def client(number: int) -> None:
        nonlocal done
        conn = await asyncpg.connect(dsn(url))
        try:
            count = 0
            while time.monotonic() < stop:
                event, ticket_type = pairs[(number + count) % len(pairs)]
                customer = customers[(number * 7919 + count) % len(customers)]
                await order_life(conn, event, ticket_type, customer, count % 10 == 0)
                count += 1
            done += count
        finally:
            await conn.close()

    started = time.monotonic()
    await asyncio.gather(*(client(n) for n in range(clients)))
    return done / (time.monotonic() - started)


async def set_triggers(url: str, enabled: bool) -> None:
    conn = await asyncpg.connect(dsn(url))
    try:
        verb = "ENABLE" if enabled else "DISABLE"
        for table, trigger in rollup_names.TRIGGER_NAMES:
            if trigger in KEPT:
                continue
            await conn.execute(f"ALTER TABLE {table} {verb} TRIGGER {trigger}")
    finally:
        await conn.close()


async def run(args: argparse.Namespace) -> None:
    server = args.database_url
    name = f"tt_bench_writes_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn(server))
    await admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = to_asyncpg_url(server).rpartition("/")
    url = f"{base}/{name}"
    try:
        await asyncio.to_thread(upgrade_to_head, url)
        conn = await asyncpg.connect(dsn(url))
        spread, customers = await catalog(conn, args.events)
        await conn.close()
        print(f"load average at the start: {os.getloadavg()[0]:.1f}", flush=True)
        for label, pairs in (("spread over events", spread), ("one hot event", spread[:1])):
            rates: dict[bool, list[float]] = {True: [], False: []}
            for _ in range(args.rounds):
                for enabled in (False, True):
                    await set_triggers(url, enabled)
                    rate = await round_rate(url, pairs, customers, args.clients, args.seconds)
                    rates[enabled].append(rate)
                    print(
                        f"{label}: triggers {'on ' if enabled else 'off'} {rate:7.0f} orders/s",
                        flush=True,
                    )
            on, off = statistics.median(rates[True]), statistics.median(rates[False])
            print(f"{label}: median on {on:.0f}, off {off:.0f}, ratio {on / off:.2f}", flush=True)
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
