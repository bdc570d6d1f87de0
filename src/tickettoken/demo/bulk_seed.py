"""``tickettoken seed --demo --orders N``: a year of sales at scale, for the report benchmark.

At 100,000 orders: 3 venues, 200 events (past ones completed, two cancelled with every order
refunded, the rest on sale), 50,000 customers, about 265,000 tickets, sales over the 12 months
before today, 3 % of payments declined, 4 % of orders refunded in full and 5 % by half.

Why not the services, like the small demo (``seed.py``): a hold, a confirmation and a payment per
order through the services take about 30 ms here, an hour for 100,000 orders. The rows are made
here and written with COPY in chunks, each chunk one transaction; what must hold for the reports
is kept by the database itself as for every other writer: the triggers of migration 0009 set
``orders.venue_id``, count items into ``orders.tickets`` and update the rollups, so the reports
equal the order rows exactly (``tests/events/reports/test_bulk_seed.py`` checks it). Ticket
types' ``sold`` counters are set from the orders written (paid ever: refunds do not return
tickets to sale, as on the platform). Deterministic for a given N (fixed random seed); a second
run finds the bulk venues and changes nothing.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
from rich.console import Console
from rich.progress import Progress

VENUES = (  # name, city, state
    ("Harbor Pavilion", "Boston", "MA"),
    ("Desert Dome", "Phoenix", "AZ"),
    ("Lakeside Theater", "Madison", "WI"),
)
CATEGORIES = ("concert", "theater", "sports", "comedy", "conference", "festival", "other")
QUANTITIES = (1, 2, 3, 4, 5, 6)
QUANTITY_WEIGHTS = (20, 35, 20, 15, 5, 5)  # 2.65 tickets per order on average
DECLINED, REFUNDED, HALF_REFUNDED = 0.03, 0.04, 0.05
CHUNK = 5000
MARKER = "bulk"


@dataclass(frozen=True)
class BulkEvent:
    id: uuid.UUID
    venue: int
    start: datetime
    status: str
    orders: int
    types: tuple[tuple[uuid.UUID, Decimal], tuple[uuid.UUID, Decimal]]  # general, vip


@dataclass
class BulkSummary:
    venues: int = 0
    events: int = 0
    customers: int = 0
    orders: int = 0
    tickets: int = 0
    already_seeded: bool = False


def _plan_events(rng: random.Random, orders: int, now: datetime) -> list[BulkEvent]:
    """200 events over the year (scaled down below 20,000 orders), orders spread by weight."""
    count = max(3, min(200, orders // 100))
    weights = [rng.uniform(0.4, 1.6) for _ in range(count)]
    total = sum(weights)
    shares = [int(orders * w / total) for w in weights]
    shares[0] += orders - sum(shares)
    events = []
    for number, share in enumerate(shares):
        start = (now + timedelta(days=rng.uniform(-330, 60))).replace(
            minute=0, second=0, microsecond=0
        )
        status = "completed" if start < now else "published"
        if number in (7, 11):
            status = "cancelled"
        price = Decimal(rng.randrange(30, 120)).quantize(Decimal("0.01"))
        events.append(
            BulkEvent(
                id=uuid.uuid4(),
                venue=number % len(VENUES),
                start=start,
                status=status,
                orders=share,
                types=((uuid.uuid4(), price), (uuid.uuid4(), price * Decimal("2.5"))),
            )
        )
    return events


def _sale_moment(rng: random.Random, event: BulkEvent, now: datetime) -> datetime:
    opens = max(event.start - timedelta(days=120), now - timedelta(days=364))
    closes = min(event.start - timedelta(hours=1), now - timedelta(minutes=5))
    span = max((closes - opens).total_seconds(), 3600.0)
    return opens + timedelta(seconds=span * rng.random() ** 0.6)


def _orders_of(
    rng: random.Random, event: BulkEvent, customers: list[uuid.UUID], now: datetime
) -> list[dict[str, Any]]:
    rows = []
    for _ in range(event.orders):
        vip = rng.random() < 0.2
        type_id, price = event.types[1 if vip else 0]
        quantity = rng.choices(QUANTITIES, QUANTITY_WEIGHTS)[0] if not vip else rng.randint(1, 4)
        moment = _sale_moment(rng, event, now)
        total = price * quantity
        roll = rng.random()
        if roll < DECLINED:
            status, refunded = "cancelled", Decimal("0.00")
        elif event.status == "cancelled" or roll < DECLINED + REFUNDED:
            status, refunded = "refunded", total
        elif roll < DECLINED + REFUNDED + HALF_REFUNDED:
            status, refunded = "partially_refunded", (total / 2).quantize(Decimal("0.01"))
        else:
            status, refunded = "paid", Decimal("0.00")
        rows.append(
            {
                "id": uuid.uuid4(),
                "customer": rng.choice(customers),
                "event": event,
                "type": type_id,
                "price": price,
                "quantity": quantity,
                "total": total,
                "status": status,
                "refunded": refunded,
                "created": moment - timedelta(minutes=2),
                "paid": None if status == "cancelled" else moment,
            }
        )
    return rows


async def _setup(
    conn: asyncpg.Connection, events: list[BulkEvent], customers: int, now: datetime
) -> list[list[uuid.UUID]]:
    """Venues, events, ticket types and customers; the customer ids of each venue."""
    tickets_needed: dict[uuid.UUID, int] = {}
    for event in events:
        tickets_needed[event.id] = int(event.orders * 2.65 * 1.5) + 50
    venue_ids = []
    for number, (name, city, state) in enumerate(VENUES):
        largest = max((tickets_needed[e.id] for e in events if e.venue == number), default=1000)
        venue_ids.append(
            await conn.fetchval(
                "INSERT INTO venues (name, address, city, state, country, postal_code, capacity,"
                " metadata, created_at) VALUES ($1, $2, $3, $4, 'US', '02110', $5,"
                " jsonb_build_object('demo', $6::text), $7) RETURNING id",
                name,
                f"1 {name} Way",
                city,
                state,
                max(largest, 1000),
                MARKER,
                now - timedelta(days=400),
            )
        )
    for number, event in enumerate(events):
        capacity = tickets_needed[event.id]
        published = event.start - timedelta(days=121)
        await conn.execute(
            "INSERT INTO events (id, venue_id, name, description, category, start_date, end_date,"
            " doors_open, capacity, status, published_at, cancelled_at, cancellation_reason,"
            " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            event.id,
            venue_ids[event.venue],
            f"Season Night {number + 1:03d}",
            "A night of the bulk demo season.",
            CATEGORIES[number % len(CATEGORIES)],
            event.start,
            event.start + timedelta(hours=3),
            event.start - timedelta(hours=1),
            capacity,
            event.status,
            published,
            now - timedelta(days=1) if event.status == "cancelled" else None,
            "Storm damage" if event.status == "cancelled" else None,
            published - timedelta(days=3),
        )
        for (type_id, price), (name, share) in zip(
            event.types, (("General Admission", 0.65), ("VIP", 0.35)), strict=True
        ):
            await conn.execute(
                "INSERT INTO ticket_types (id, event_id, name, price, quantity, max_per_order,"
                " created_at) VALUES ($1, $2, $3, $4, $5, 6, $6)",
                type_id,
                event.id,
                name,
                price,
                int(capacity * share),
                published - timedelta(days=3),
            )
    per_venue: list[list[uuid.UUID]] = [[] for _ in VENUES]
    records = []
    for number in range(customers):
        venue = number % len(VENUES)
        customer_id = uuid.uuid4()
        per_venue[venue].append(customer_id)
        records.append(
            (
                customer_id,
                venue_ids[venue],
                f"fan{number}@example.com",
                "Fan",
                f"Number{number}",
                now - timedelta(days=365),
            )
        )
    await conn.copy_records_to_table(
        "customers",
        records=records,
        columns=["id", "venue_id", "email", "first_name", "last_name", "created_at"],
    )
    return per_venue


async def write_orders(conn: asyncpg.Connection, rows: list[dict[str, Any]]) -> int:
    """Orders, then their items (the triggers count them into the order and the rollups),
    tickets and refunds, in one transaction; the number of tickets written. Each row: ``id``,
    ``customer``, ``event`` (with ``.id``), ``type``, ``price``, ``quantity``, ``total``,
    ``status``, ``refunded``, ``created``, ``paid`` (as ``_orders_of`` makes them)."""
    orders, items, tickets, refunds = [], [], [], []
    for row in rows:
        status, paid = row["status"], row["paid"]
        orders.append(
            (
                row["id"],
                row["customer"],
                row["event"].id,
                status,
                row["total"],
                row["refunded"],
                f"pi_bulk_{row['id'].hex[:24]}" if paid else None,
                paid,
                row["created"] if status == "cancelled" else None,
                row["created"],
                paid or row["created"],
            )
        )
        item_id = uuid.uuid4()
        items.append((item_id, row["id"], row["type"], row["quantity"], row["price"], row["total"]))
        ticket_status = {"cancelled": "invalidated", "refunded": "refunded"}.get(status, "issued")
        for _ in range(row["quantity"]):
            ticket_id = uuid.uuid4()
            tickets.append(
                (
                    ticket_id,
                    row["id"],
                    item_id,
                    row["event"].id,
                    row["type"],
                    row["customer"],
                    ticket_status,
                    ticket_id.hex,
                    paid,
                    row["created"],
                )
            )
        if row["refunded"] > 0 and paid is not None:
            refunds.append(
                (row["id"], row["refunded"], "USD", "succeeded", paid + timedelta(days=2))
            )
    async with conn.transaction():
        await conn.copy_records_to_table(
            "orders",
            records=orders,
            columns=[
                "id",
                "customer_id",
                "event_id",
                "status",
                "total",
                "refunded_amount",
                "payment_intent_id",
                "paid_at",
                "cancelled_at",
                "created_at",
                "updated_at",
            ],
        )
        await conn.copy_records_to_table(
            "order_items",
            records=items,
            columns=["id", "order_id", "ticket_type_id", "quantity", "unit_price", "subtotal"],
        )
        await conn.copy_records_to_table(
            "tickets",
            records=tickets,
            columns=[
                "id",
                "order_id",
                "order_item_id",
                "event_id",
                "ticket_type_id",
                "customer_id",
                "status",
                "code",
                "issued_at",
                "created_at",
            ],
        )
        await conn.copy_records_to_table(
            "order_refunds",
            records=refunds,
            columns=["order_id", "amount", "currency", "status", "confirmed_at"],
        )
    return len(tickets)


async def count_sold(conn: asyncpg.Connection, event_ids: list[uuid.UUID]) -> None:
    """Ticket types' ``sold`` from the orders written (paid ever: refunds do not return tickets
    to sale, as on the platform)."""
    await conn.execute(
        """
        UPDATE ticket_types tt SET sold = s.sold FROM (
            SELECT i.ticket_type_id, sum(i.quantity) AS sold
            FROM order_items i JOIN orders o ON o.id = i.order_id
            WHERE o.status IN ('paid', 'partially_refunded', 'refunded')
              AND o.event_id = ANY($1::uuid[])
            GROUP BY i.ticket_type_id
        ) s WHERE s.ticket_type_id = tt.id
        """,
        event_ids,
    )


async def seed_bulk(url: str, orders: int, progress: Progress | None = None) -> BulkSummary:
    """Write the bulk demo season of ``orders`` orders (nothing if it is already there)."""
    summary = BulkSummary()
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        exists = await conn.fetchval(
            "SELECT 1 FROM venues WHERE metadata->>'demo' = $1 LIMIT 1", MARKER
        )
        if exists:
            summary.already_seeded = True
            return summary
        rng = random.Random(20260101 + orders)
        now = datetime.now(UTC)
        events = _plan_events(rng, orders, now)
        customers = max(len(VENUES), orders // 2)
        task = progress.add_task("customers and events", total=orders) if progress else None
        async with conn.transaction():
            per_venue = await _setup(conn, events, customers, now)
        if progress is not None and task is not None:
            progress.update(task, description="orders")
        pending: list[dict[str, Any]] = []
        for event in events:
            pending.extend(_orders_of(rng, event, per_venue[event.venue], now))
            while len(pending) >= CHUNK:
                summary.tickets += await write_orders(conn, pending[:CHUNK])
                if progress is not None and task is not None:
                    progress.advance(task, CHUNK)
                pending = pending[CHUNK:]
        if pending:
            summary.tickets += await write_orders(conn, pending)
            if progress is not None and task is not None:
                progress.advance(task, len(pending))
        await count_sold(conn, [e.id for e in events])
        # the item triggers leave one dead version of every order: clean up and plan from stats
        await conn.execute("VACUUM ANALYZE")
        summary.venues, summary.events = len(VENUES), len(events)
        summary.customers, summary.orders = customers, orders
        return summary
    finally:
        await conn.close()


def report_bulk_seed(url: str, orders: int) -> BulkSummary:
    """Seed with a progress bar on stderr and print what was written."""
    console = Console(stderr=True)
    started = time.perf_counter()
    with Progress(console=console) as progress:
        summary = asyncio.run(seed_bulk(url, orders, progress))
    if summary.already_seeded:
        console.print("bulk demo data is already there; nothing changed")
        return summary
    console.print(
        f"[green]bulk demo data written[/green]: {summary.venues} venues, {summary.events}"
        f" events, {summary.customers} customers, {summary.orders} orders,"
        f" {summary.tickets} tickets in {time.perf_counter() - started:.1f} s"
    )
    return summary
