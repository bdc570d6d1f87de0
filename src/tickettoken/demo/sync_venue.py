"""The demo's large venue: 1,000 customers, 50 events with their ticket types and some paid orders,
the data set the end-to-end sync test pushes to every provider sandbox (issue 10).

Written with COPY and plain INSERTs, as ``bulk_seed.py`` argues (the services would take minutes
for a thousand buyers); the orders go through ``bulk_seed.write_orders`` so the database's own
triggers count tickets into orders and keep the report rollups, as for every other writer.
A realistic mix of customers: everyone has an e-mail and a name, about 60 % a phone and about
45 % gave marketing consent (``customers.marketing_consent``, what Mailchimp syncs).
Deterministic (fixed random seed, ids drawn from it) and written once: a second run finds the
venue by its id and changes nothing.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from tickettoken.demo.bulk_seed import count_sold, write_orders

SEED = 20261127
CUSTOMERS = 1000
EVENTS = 50
# Each paid order is a Square order and payment, a QuickBooks invoice and payment: kept small
# so the end-to-end sync test stays short.
ORDERS = 100
PHONE_SHARE, CONSENT_SHARE = 0.6, 0.45
VENUE = ("Metro Convention Center", "Denver", "CO", 8000)
MARKER = "sync"  # venues.metadata.demo
FIRST_NAMES = (
    *("Amara", "Bruno", "Chloe", "Dmitri", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonas"),
    *("Keiko", "Luca", "Maya", "Nikolai", "Olga", "Priya", "Quentin", "Rosa", "Samir", "Tessa"),
    *("Umar", "Vera", "Wen", "Ximena", "Yusuf", "Zoe", "Omar", "Lena", "Tariq", "Freya"),
)
LAST_NAMES = (
    *("Abbott", "Bergstrom", "Castillo", "Dubois", "Eriksen", "Fontaine", "Gallagher", "Haddad"),
    *("Ivanova", "Jensen", "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov"),
    *("Quinn", "Rossi", "Sato", "Thorne", "Ueda", "Varga", "Whitaker", "Yilmaz", "Zimmer"),
)
DOMAINS = ("example.com", "example.net", "example.org")
SHOWS = (
    ("Expo", "conference"),
    ("Symphony Night", "concert"),
    ("Comedy Hour", "comedy"),
    ("Robotics Cup", "sports"),
    ("Indie Stage", "concert"),
    ("Playhouse", "theater"),
    ("Food Fair", "festival"),
    ("Open Forum", "other"),
)
TICKET_TYPES = (  # name, price factor, share of the capacity
    ("General Admission", Decimal("1"), 0.7),
    ("VIP", Decimal("2.5"), 0.2),
    ("Student", Decimal("0.6"), 0.1),  # every third event
)


@dataclass(frozen=True)
class SyncEvent:
    id: uuid.UUID
    start: datetime
    status: str
    types: tuple[tuple[uuid.UUID, Decimal], ...]  # ticket type id, price


@dataclass
class SyncVenueSummary:
    venue_id: uuid.UUID
    customers: int = 0
    events: int = 0
    ticket_types: int = 0
    orders: int = 0
    already_seeded: bool = False


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


VENUE_ID = _uuid(random.Random(SEED))  # the first draw of the seed's stream, known to tests


def _customers(rng: random.Random, now: datetime) -> list[tuple[Any, ...]]:
    rows = []
    for number in range(CUSTOMERS):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first}.{last}{number}@{DOMAINS[number % len(DOMAINS)]}".lower()
        phone = f"+1 303 555 {number:04d}" if rng.random() < PHONE_SHARE else None
        joined = now - timedelta(days=rng.uniform(1, 365))
        consent = rng.random() < CONSENT_SHARE
        rows.append(
            (
                *(_uuid(rng), VENUE_ID, email, first, last, phone, "{}"),
                *(consent, joined if consent else None, "demo" if consent else None),
                *(joined, joined),
            )
        )
    return rows


def _events(rng: random.Random, now: datetime) -> list[tuple[SyncEvent, tuple[Any, ...]]]:
    """Events (eight of them over, two drafts, the rest on sale) with their event row."""
    planned = []
    for number in range(EVENTS):
        show, category = SHOWS[number % len(SHOWS)]
        days = rng.uniform(-120, -3) if number < 8 else rng.uniform(5, 200)
        start = (now + timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
        status = "completed" if number < 8 else "draft" if number in (20, 35) else "published"
        base = Decimal(rng.randrange(25, 90))
        type_count = 3 if number % 3 == 0 else 2
        types = tuple((_uuid(rng), base * factor) for _, factor, _ in TICKET_TYPES[:type_count])
        event = SyncEvent(_uuid(rng), start, status, types)
        # made and published at least four weeks before any sale (sales are within 20 days)
        created = min(start, now) - timedelta(days=rng.uniform(30, 60))
        row = (
            event.id,
            VENUE_ID,
            f"{show} {number + 1:02d}",
            f"{show} at the {VENUE[0]}: a TicketToken demo event.",
            category,
            start,
            start + timedelta(hours=3),
            start - timedelta(hours=1),
            600,
            status,
            None if status == "draft" else created + timedelta(days=2),
            created,
        )
        planned.append((event, row))
    return planned


def _orders(
    rng: random.Random, events: list[SyncEvent], customers: list[uuid.UUID], now: datetime
) -> list[dict[str, Any]]:
    """Paid orders (5 % refunded, 5 % half refunded) of the published and completed events."""
    sold = [event for event in events if event.status != "draft"]
    rows = []
    for _ in range(ORDERS):
        event = rng.choice(sold)
        type_id, price = rng.choice(event.types)
        quantity = rng.randint(1, 4)
        total = price * quantity
        paid = min(event.start - timedelta(hours=2), now) - timedelta(days=rng.uniform(0.1, 20))
        roll = rng.random()
        status, refunded = "paid", Decimal("0.00")
        if roll < 0.05:
            status, refunded = "refunded", total
        elif roll < 0.10:
            status, refunded = "partially_refunded", (total / 2).quantize(Decimal("0.01"))
        rows.append(
            {
                "id": _uuid(rng),
                "customer": rng.choice(customers),
                "event": event,
                "type": type_id,
                "price": price,
                "quantity": quantity,
                "total": total,
                "status": status,
                "refunded": refunded,
                "created": paid - timedelta(minutes=3),
                "paid": paid,
            }
        )
    return rows


async def seed_sync_venue(url: str, now: datetime | None = None) -> SyncVenueSummary:
    """Write the large venue in one transaction (nothing when it is already there)."""
    now = now or datetime.now(UTC)
    summary = SyncVenueSummary(VENUE_ID)
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        if await conn.fetchval("SELECT 1 FROM venues WHERE id = $1", VENUE_ID):
            summary.already_seeded = True
            return summary
        rng = random.Random(SEED)
        _uuid(rng)  # the venue id's draw
        name, city, state, capacity = VENUE
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO venues (id, name, address, city, state, country, postal_code,"
                " capacity, timezone, metadata, created_at) VALUES ($1, $2, $3, $4, $5, 'US',"
                " '80202', $6, 'America/Denver', jsonb_build_object('demo', $7::text), $8)",
                VENUE_ID,
                name,
                f"700 {name} Way",
                city,
                state,
                capacity,
                MARKER,
                now - timedelta(days=400),
            )
            customers = _customers(rng, now)
            await conn.copy_records_to_table(
                "customers",
                records=customers,
                columns=[
                    *("id", "venue_id", "email", "first_name", "last_name", "phone"),
                    *("metadata", "marketing_consent", "marketing_consent_at"),
                    *("marketing_consent_source", "created_at", "updated_at"),
                ],
            )
            planned = _events(rng, now)
            await conn.copy_records_to_table(
                "events",
                records=[row for _, row in planned],
                columns=[
                    *("id", "venue_id", "name", "description", "category", "start_date"),
                    *("end_date", "doors_open", "capacity", "status", "published_at"),
                    "created_at",
                ],
            )
            types = [
                (type_id, event.id, TICKET_TYPES[n][0], price, int(600 * TICKET_TYPES[n][2]), 6)
                for event, _ in planned
                for n, (type_id, price) in enumerate(event.types)
            ]
            await conn.copy_records_to_table(
                "ticket_types",
                records=types,
                columns=["id", "event_id", "name", "price", "quantity", "max_per_order"],
            )
            events = [event for event, _ in planned]
            orders = _orders(rng, events, [row[0] for row in customers], now)
            await write_orders(conn, orders)
            await count_sold(conn, [event.id for event in events])
        summary.customers, summary.events = len(customers), len(events)
        summary.ticket_types, summary.orders = len(types), len(orders)
        return summary
    finally:
        await conn.close()
