"""``tickettoken seed --demo``: a demo data set that makes every report and dashboard non-empty.

Three venues, a dozen events (past and completed, upcoming and on sale, a draft, a cancelled
one), ticket types with pricing rules of all three kinds, customers (some with user ids, so
their tokens see their profiles), a few hundred orders over the last 90 days (paid, partially
refunded, refunded, cancelled) with their tickets, and notifications. Counters (`sold`) match
the orders. Deterministic (fixed random seed) and run once: a second run finds the demo venues
and changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.kit.db import Database

VENUES = (
    ("The Grand Hall", "New York", "NY", 5000),
    ("Riverside Arena", "Austin", "TX", 20000),
    ("Blue Note Club", "Chicago", "IL", 800),
)
EVENTS = (  # venue index, name, category, days from now, status
    (0, "Symphony Under the Stars", "concert", -45, "completed"),
    (0, "Hamlet Reimagined", "theater", 21, "published"),
    (0, "Tech Leaders Summit", "conference", 60, "published"),
    (0, "Winter Gala Preview", "other", 120, "draft"),
    (1, "Summer Music Festival", "festival", -30, "completed"),
    (1, "City Derby Final", "sports", 14, "published"),
    (1, "Arena Rock Night", "concert", 35, "published"),
    (1, "Monster Trucks Live", "sports", 50, "cancelled"),
    (2, "Late Night Laughs", "comedy", -10, "completed"),
    (2, "Jazz at Midnight", "concert", 7, "published"),
    (2, "Stand-up Showcase", "comedy", 28, "published"),
)
TICKET_TYPES = (("General Admission", Decimal("45.00"), 0.6), ("VIP", Decimal("150.00"), 0.1))


@dataclass
class SeedSummary:
    venues: int = 0
    events: int = 0
    ticket_types: int = 0
    pricing_rules: int = 0
    customers: int = 0
    orders: int = 0
    tickets: int = 0
    notifications: int = 0
    already_seeded: bool = False


async def _insert(session: AsyncSession, sql: str, **params: Any) -> Any:
    return (await session.execute(text(sql), params)).scalar_one()


async def _venues(session: AsyncSession, summary: SeedSummary) -> list[uuid.UUID]:
    ids = []
    for name, city, state, capacity in VENUES:
        ids.append(
            await _insert(
                session,
                "INSERT INTO venues (name, address, city, state, country, postal_code, capacity,"
                " timezone, metadata, created_by) VALUES (:name, :address, :city, :state, 'US',"
                " '10001', :capacity, 'UTC', CAST(:metadata AS jsonb), 'seed') RETURNING id",
                name=name,
                address=f"1 {name} Plaza",
                city=city,
                state=state,
                capacity=capacity,
                metadata=json.dumps({"demo": True}),
            )
        )
        summary.venues += 1
    return ids


async def _event_with_types(
    session: AsyncSession,
    venue_id: uuid.UUID,
    spec: tuple[int, str, str, int, str],
    now: datetime,
    summary: SeedSummary,
) -> tuple[uuid.UUID, datetime, str, list[tuple[uuid.UUID, Decimal, int]]]:
    _, name, category, days, status = spec
    capacity = VENUES[spec[0]][3]
    start = (now + timedelta(days=days)).replace(hour=20, minute=0, second=0, microsecond=0)
    event_id = await _insert(
        session,
        "INSERT INTO events (venue_id, name, description, category, start_date, end_date,"
        " doors_open, capacity, status, published_at, cancelled_at, cancellation_reason,"
        " created_by) VALUES (:venue_id, :name, :description, :category, :start, :end, :doors,"
        " :capacity, :status, :published, :cancelled, :reason, 'seed') RETURNING id",
        venue_id=venue_id,
        name=name,
        description=f"{name}: a TicketToken demo event.",
        category=category,
        start=start,
        end=start + timedelta(hours=3),
        doors=start - timedelta(hours=1),
        capacity=capacity,
        status=status,
        published=None if status == "draft" else now - timedelta(days=100),
        cancelled=now - timedelta(days=2) if status == "cancelled" else None,
        reason="Weather warning" if status == "cancelled" else None,
    )
    summary.events += 1
    types = []
    for type_name, price, share in TICKET_TYPES:
        quantity = int(capacity * share)
        type_id = await _insert(
            session,
            "INSERT INTO ticket_types (event_id, name, description, price, quantity,"
            " max_per_order, metadata) VALUES (:event_id, :name, :description, :price,"
            " :quantity, :max_per_order, CAST(:metadata AS jsonb)) RETURNING id",
            event_id=event_id,
            name=type_name,
            description=f"{type_name} for {name}",
            price=price,
            quantity=quantity,
            max_per_order=6 if type_name != "VIP" else 4,
            metadata=json.dumps({"section": type_name.split()[0].upper()}),
        )
        summary.ticket_types += 1
        types.append((type_id, price, quantity))
    await _pricing_rules(session, types[0][0], summary)
    return event_id, start, status, types


async def _pricing_rules(
    session: AsyncSession, ticket_type_id: uuid.UUID, summary: SeedSummary
) -> None:
    rules = (
        ("time_based", {"days_before": 30}, "percentage", Decimal("-15"), 1),
        ("demand_based", {"percentage_sold": 50}, "percentage", Decimal("10"), 2),
        ("group", {"min_quantity": 6}, "fixed", Decimal("-5"), 3),
    )
    for rule_type, conditions, kind, value, priority in rules:
        await session.execute(
            text(
                "INSERT INTO pricing_rules (ticket_type_id, rule_type, conditions,"
                " adjustment_type, adjustment_value, priority) VALUES (:tt, :rule_type,"
                " CAST(:conditions AS jsonb), :kind, :value, :priority)"
            ),
            {
                "tt": ticket_type_id,
                "rule_type": rule_type,
                "conditions": json.dumps(conditions),
                "kind": kind,
                "value": value,
                "priority": priority,
            },
        )
        summary.pricing_rules += 1


async def _customers(
    session: AsyncSession, venue_ids: list[uuid.UUID], summary: SeedSummary
) -> dict[uuid.UUID, list[uuid.UUID]]:
    first = ("Ada", "Grace", "Alan", "Linus", "Ken", "Barbara", "Edsger", "Margaret", "Donald")
    last = ("Lovelace", "Hopper", "Turing", "Torvalds", "Thompson", "Liskov", "Dijkstra")
    per_venue: dict[uuid.UUID, list[uuid.UUID]] = {}
    for v_index, venue_id in enumerate(venue_ids):
        per_venue[venue_id] = []
        for index in range(20):
            number = v_index * 20 + index
            per_venue[venue_id].append(
                await _insert(
                    session,
                    "INSERT INTO customers (venue_id, email, first_name, last_name, phone,"
                    " user_id) VALUES (:venue_id, :email, :first, :last, :phone, :user_id)"
                    " RETURNING id",
                    venue_id=venue_id,
                    email=f"demo.customer{number}@example.com",
                    first=first[number % len(first)],
                    last=last[number % len(last)],
                    phone=f"+1 555 01{number:02d}",
                    user_id=f"demo-customer-{index}",
                )
            )
            summary.customers += 1
    return per_venue


async def _order(
    session: AsyncSession,
    rng: random.Random,
    *,
    customer_id: uuid.UUID,
    event_id: uuid.UUID,
    ticket_type: tuple[uuid.UUID, Decimal, int],
    quantity: int,
    paid_at: datetime,
    summary: SeedSummary,
) -> None:
    type_id, price, _ = ticket_type
    total = price * quantity
    roll = rng.random()
    status, refunded = "paid", Decimal("0.00")
    if roll < 0.04:
        status, refunded = "refunded", total
    elif roll < 0.1:
        status, refunded = "partially_refunded", (total / 2).quantize(Decimal("0.01"))
    elif roll < 0.13:
        status = "cancelled"
    order_id = await _insert(
        session,
        "INSERT INTO orders (customer_id, event_id, status, total, refunded_amount,"
        " payment_intent_id, paid_at, cancelled_at, created_at) VALUES (:customer_id,"
        " :event_id, :status, :total, :refunded, :intent, :paid_at, :cancelled_at, :created_at)"
        " RETURNING id",
        customer_id=customer_id,
        event_id=event_id,
        status=status,
        total=total,
        refunded=refunded,
        intent=None if status == "cancelled" else f"pi_demo_{uuid.uuid4().hex[:16]}",
        paid_at=None if status == "cancelled" else paid_at,
        cancelled_at=paid_at if status == "cancelled" else None,
        created_at=paid_at - timedelta(minutes=3),
    )
    item_id = await _insert(
        session,
        "INSERT INTO order_items (order_id, ticket_type_id, quantity, unit_price, subtotal)"
        " VALUES (:order_id, :tt, :quantity, :price, :total) RETURNING id",
        order_id=order_id,
        tt=type_id,
        quantity=quantity,
        price=price,
        total=total,
    )
    ticket_status = {"paid": "issued", "partially_refunded": "issued", "refunded": "refunded"}
    for _ in range(quantity):
        await session.execute(
            text(
                "INSERT INTO tickets (order_id, order_item_id, event_id, ticket_type_id,"
                " customer_id, status, code, issued_at) VALUES (:o, :i, :e, :t, :c, :s, :code,"
                " :issued)"
            ),
            {
                "o": order_id,
                "i": item_id,
                "e": event_id,
                "t": type_id,
                "c": customer_id,
                "s": ticket_status.get(status, "invalidated"),
                "code": f"DEMO-{uuid.uuid4().hex[:20].upper()}",
                "issued": None if status == "cancelled" else paid_at,
            },
        )
        summary.tickets += 1
    if status in ("paid", "partially_refunded"):
        await session.execute(
            text("UPDATE ticket_types SET sold = sold + :q WHERE id = :id"),
            {"q": quantity, "id": type_id},
        )
    summary.orders += 1


async def seed_demo(database: Database, now: datetime | None = None) -> SeedSummary:
    """Write the demo data set in one transaction (nothing when it is already there)."""
    now = now or datetime.now(UTC)
    rng = random.Random(4242)
    summary = SeedSummary()
    async with database.transaction() as session:
        existing = await session.execute(
            text("SELECT 1 FROM venues WHERE metadata->>'demo' = 'true' LIMIT 1")
        )
        if existing.first() is not None:
            summary.already_seeded = True
            return summary
        venue_ids = await _venues(session, summary)
        customers = await _customers(session, venue_ids, summary)
        for spec in EVENTS:
            venue_id = venue_ids[spec[0]]
            event_id, start, status, types = await _event_with_types(
                session, venue_id, spec, now, summary
            )
            if status == "draft":
                continue
            window_end = min(now, start) - timedelta(hours=1)
            for _ in range(rng.randint(15, 35)):
                ticket_type = types[0] if rng.random() < 0.8 else types[1]
                await _order(
                    session,
                    rng,
                    customer_id=rng.choice(customers[venue_id]),
                    event_id=event_id,
                    ticket_type=ticket_type,
                    quantity=rng.randint(1, 4),
                    paid_at=window_end - timedelta(minutes=rng.randint(0, 60 * 24 * 80)),
                    summary=summary,
                )
        for index in range(5):
            await session.execute(
                text(
                    "INSERT INTO notifications (user_id, type, title, message, data) VALUES"
                    " (:user_id, 'welcome', 'Welcome to TicketToken', :message,"
                    " CAST(:data AS jsonb))"
                ),
                {
                    "user_id": f"demo-customer-{index}",
                    "message": "Your demo account is ready. Enjoy the show!",
                    "data": json.dumps({"demo": True}),
                },
            )
            summary.notifications += 1
    return summary


def seed(
    demo: Annotated[bool, typer.Option("--demo", help="Write the demo data set")] = False,
) -> None:
    """Load data into the database (``--demo``: venues, events, orders for every report)."""
    if not demo:
        raise typer.BadParameter("nothing to seed: pass --demo")
    from tickettoken.kit.database_url import resolve_database_url
    from tickettoken.kit.settings import get_settings
    from tickettoken.migrations.runner import upgrade_to_head

    url = resolve_database_url(get_settings())
    upgrade_to_head(url)
    report_seed(seed_demo_database(url))


def seed_demo_database(url: str) -> SeedSummary:
    """Seed the demo data set into a migrated database (for ``seed --demo`` and ``up --demo``)."""
    return asyncio.run(_run(url))


def report_seed(summary: SeedSummary) -> None:
    console = Console(stderr=True)
    if summary.already_seeded:
        console.print("demo data is already there; nothing changed")
        return
    console.print(
        f"[green]demo data written[/green]: {summary.venues} venues, {summary.events} events,"
        f" {summary.ticket_types} ticket types, {summary.pricing_rules} pricing rules,"
        f" {summary.customers} customers, {summary.orders} orders, {summary.tickets} tickets,"
        f" {summary.notifications} notifications"
    )


async def _run(url: str) -> SeedSummary:
    database = Database(url, pool_min=1, pool_max=2)
    try:
        return await seed_demo(database)
    finally:
        await database.dispose()
