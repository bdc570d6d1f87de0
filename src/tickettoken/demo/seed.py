"""``tickettoken seed --demo``: a demo season made through the platform's own services.

Three venues; events past (completed), on sale, a draft and a cancelled one; ticket types with
pricing rules of all three kinds; customers who buy with their accounts (their tokens see their
orders and profiles) and at the box office; sales spread over the three months before each
event, thick enough that demand pricing applies; payments approved and a few declined; refunds,
partial and full; notifications. Everything goes through the services that the API uses (holds,
confirmations, payment results, refunds, the cancellation with its refunds, the ``completed``
move once an event has started), so the demo obeys every rule the platform enforces; the
services run today and each step is then dated back to its moment in the season
(``demo.dates``); payments and refunds are settled as a provider would (``demo.provider``).
Deterministic (fixed random seed) and run once: a second run finds the demo venues and changes
nothing.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import text

from tickettoken.demo.dates import date_event, date_sale, date_venues_and_customers
from tickettoken.demo.provider import callbacks, settle_payment, settle_refunds
from tickettoken.demo.sync_venue import SyncVenueSummary, seed_sync_venue
from tickettoken.events.audit.service import audit_context
from tickettoken.events.customers.schemas import CustomerDetails
from tickettoken.events.events.schemas import EventCancel, EventCreate, EventUpdate
from tickettoken.events.events.service import create_event, publish_event, update_event
from tickettoken.events.notifications.schemas import NotificationCreate
from tickettoken.events.notifications.service import create_notification
from tickettoken.events.orders.event_cancellation import cancel_event
from tickettoken.events.orders.schemas import RefundCreate, ReservationConfirm
from tickettoken.events.orders.service import confirm_reservation, request_refund
from tickettoken.events.pricing.rules import create_rule
from tickettoken.events.pricing.schemas import PricingRuleCreate
from tickettoken.events.reservations.schemas import ReservationCreate
from tickettoken.events.reservations.service import reserve_tickets
from tickettoken.events.ticket_types.schemas import TicketTypeCreate
from tickettoken.events.ticket_types.service import create_ticket_type
from tickettoken.events.venues.schemas import VenueCreate
from tickettoken.events.venues.service import create_venue
from tickettoken.kit.auth import Principal, Role
from tickettoken.kit.db import Database
from tickettoken.kit.errors import Conflict
from tickettoken.kit.kv import KeyValueStore, MemoryStore
from tickettoken.queue.engine import JobRegistry

VENUES = (  # name, city, state, capacity
    ("The Grand Hall", "New York", "NY", 5000),
    ("Riverside Arena", "Austin", "TX", 20000),
    ("Blue Note Club", "Chicago", "IL", 800),
)


@dataclass(frozen=True)
class EventPlan:
    venue: int
    name: str
    category: str
    starts_in_days: int  # negative: the event is over
    capacity: int
    fate: str  # completed | on_sale | draft | cancelled
    demand: float  # share of the general admission tickets that sell


EVENTS = (
    EventPlan(0, "Symphony Under the Stars", "concert", -45, 150, "completed", 0.7),
    EventPlan(0, "Hamlet Reimagined", "theater", 21, 120, "on_sale", 0.35),
    EventPlan(0, "Tech Leaders Summit", "conference", 60, 150, "on_sale", 0.2),
    EventPlan(0, "Winter Gala Preview", "other", 120, 100, "draft", 0.0),
    EventPlan(1, "Summer Music Festival", "festival", -30, 220, "completed", 0.75),
    EventPlan(1, "City Derby Final", "sports", 14, 180, "on_sale", 0.6),
    EventPlan(1, "Arena Rock Night", "concert", 35, 180, "on_sale", 0.3),
    EventPlan(1, "Monster Trucks Live", "sports", 50, 140, "cancelled", 0.3),
    EventPlan(2, "Late Night Laughs", "comedy", -10, 80, "completed", 0.8),
    EventPlan(2, "Jazz at Midnight", "concert", 7, 100, "on_sale", 0.8),
    EventPlan(2, "Stand-up Showcase", "comedy", 28, 90, "on_sale", 0.4),
)
TICKET_TYPES = (  # name, price, share of the event's capacity, max per order
    ("General Admission", Decimal("45.00"), 0.7, 6),
    ("VIP", Decimal("150.00"), 0.2, 4),
)
RULES = (  # on general admission: early bird, demand, groups
    ("time_based", {"days_before": 30}, "percentage", Decimal("-15"), 1),
    ("demand_based", {"percentage_sold": 50}, "percentage", Decimal("10"), 2),
    ("group", {"min_quantity": 6}, "fixed", Decimal("-5"), 3),
)
FIRST_NAMES = ("Ada", "Grace", "Alan", "Linus", "Ken", "Barbara", "Edsger", "Margaret", "Donald")
LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Torvalds", "Thompson", "Liskov", "Dijkstra")
ACCOUNT_HOLDERS = 20  # demo-customer-0..19 buy with their own tokens at every venue
BOX_OFFICE_BUYERS = 10  # per venue, e-mail only
SEASON_OPENED = timedelta(days=150)  # venues opened this long ago
DECLINED = 0.03  # share of payments the provider declines
HOLD_SECONDS = 15 * 60


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
    sync_venue: SyncVenueSummary | None = None  # the large venue (``sync_venue.py``)


@dataclass
class Season:
    """What the seed shares between its steps."""

    database: Database
    kv: KeyValueStore
    registry: JobRegistry
    now: datetime
    summary: SeedSummary = field(default_factory=SeedSummary)


ADMIN = Principal(sub="demo-season", role=Role.ADMIN)


def _buyer(rng: random.Random, venue_index: int) -> tuple[Principal, CustomerDetails]:
    """A demo buyer: an account holder with their own token, or a box-office customer."""
    if rng.random() < 0.75:
        number = rng.randrange(ACCOUNT_HOLDERS)
        principal = Principal(sub=f"demo-customer-{number}", role=Role.CUSTOMER)
        email = f"demo.customer{number}@example.com"
    else:
        number = ACCOUNT_HOLDERS + venue_index * BOX_OFFICE_BUYERS + rng.randrange(10)
        principal = ADMIN
        email = f"box.office{number}@example.com"
    details = CustomerDetails(
        email=email,
        first_name=FIRST_NAMES[number % len(FIRST_NAMES)],
        last_name=LAST_NAMES[number % len(LAST_NAMES)],
        phone=f"+1 555 01{number:02d}",
    )
    return principal, details


def _sale_moments(
    rng: random.Random, count: int, opens: datetime, closes: datetime
) -> list[datetime]:
    """``count`` moments between ``opens`` and ``closes``, busier as the event comes closer."""
    span = (closes - opens).total_seconds()
    return sorted(opens + timedelta(seconds=span * rng.random() ** 0.6) for _ in range(count))


def _now() -> datetime:
    return datetime.now(UTC)


async def _sale(
    season: Season,
    rng: random.Random,
    plan: EventPlan,
    event_id: uuid.UUID,
    ticket_type_id: uuid.UUID,
    quantity: int,
    moment: datetime,
) -> tuple[str, bool] | None:
    """One sale as a buyer makes it: hold, confirm, the provider's answer; dated ``moment``.
    ``(order id, paid)``, or None when the platform refused the hold (a limit reached)."""
    principal, details = _buyer(rng, plan.venue)
    request = ReservationCreate(ticket_type_id=ticket_type_id, quantity=quantity, customer=details)
    for attempt in range(3):
        try:
            async with season.database.transaction() as session:
                held = await reserve_tickets(
                    session,
                    principal,
                    event_id,
                    request,
                    hold_seconds=HOLD_SECONDS,
                    audit=audit_context(principal),
                )
            break
        except Conflict as refused:
            # the buyer's first purchase at the venue is being made at another of its events
            if "retry" not in str(refused) or attempt == 2:
                return None
    approved = rng.random() >= DECLINED
    async with season.database.transaction() as session:
        order = await confirm_reservation(
            session, principal, held["id"], ReservationConfirm(payment_method="pm_card_visa")
        )
        await settle_payment(session, season.registry, order["payment_job_id"], approved=approved)
        await date_sale(session, held["id"], uuid.UUID(order["id"]), moment - held["created_at"])
    return order["id"], approved


async def _create_event(
    season: Season, venue_id: uuid.UUID, plan: EventPlan, start: datetime
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """The event, its ticket types and the general admission's pricing rules, published unless
    it is the draft."""
    async with season.database.transaction() as session:
        event = await create_event(
            session,
            season.kv,
            ADMIN,
            EventCreate(
                venue_id=venue_id,
                name=plan.name,
                description=f"{plan.name}: a TicketToken demo event.",
                category=plan.category,
                start_date=start,
                end_date=start + timedelta(hours=3),
                doors_open=start - timedelta(hours=1),
                capacity=plan.capacity,
            ),
            _now(),
        )
        type_ids = []
        for name, price, share, max_per_order in TICKET_TYPES:
            created = await create_ticket_type(
                session,
                season.kv,
                ADMIN,
                event.id,
                TicketTypeCreate(
                    name=name,
                    description=f"{name} for {plan.name}",
                    price=price,
                    quantity=int(plan.capacity * share),
                    max_per_order=max_per_order,
                    metadata={"section": name.split()[0].upper()},
                ),
                _now(),
            )
            type_ids.append(created.id)
        for rule_type, conditions, kind, value, priority in RULES:
            rule = PricingRuleCreate.model_validate(
                {
                    "ticket_type_id": str(type_ids[0]),
                    "rule_type": rule_type,
                    "conditions": conditions,
                    "adjustment": {"type": kind, "value": str(value)},
                    "priority": priority,
                }
            )
            await create_rule(session, season.kv, ADMIN, event.id, rule)
        if plan.fate != "draft":
            await publish_event(session, season.kv, ADMIN, event.id, _now())
    season.summary.events += 1
    season.summary.ticket_types += len(type_ids)
    season.summary.pricing_rules += len(RULES)
    return event.id, type_ids


def _orders_to_sell(
    rng: random.Random, plan: EventPlan, type_ids: list[uuid.UUID]
) -> list[tuple[uuid.UUID, int]]:
    """(ticket type, quantity) of each order, until the plan's demand is sold."""
    orders = []
    for (_, _, share, max_per_order), type_id, demand in zip(
        TICKET_TYPES, type_ids, (plan.demand, plan.demand * 0.6), strict=True
    ):
        left = int(int(plan.capacity * share) * demand)
        while left > 0:
            quantity = min(left, rng.randint(2, max_per_order))
            orders.append((type_id, quantity))
            left -= quantity
    rng.shuffle(orders)
    return orders


async def _event_season(
    season: Season, rng: random.Random, venue_id: uuid.UUID, plan: EventPlan
) -> None:
    """One event's life: created, published, sold, refunds, then completed or cancelled."""
    now = season.now
    start = (now + timedelta(days=plan.starts_in_days)).replace(
        hour=20, minute=0, second=0, microsecond=0
    )
    over = plan.starts_in_days < 0
    # an event that is over is made with a start 3 hours ahead, as the services require, and
    # moved to its real start once sold
    made_start = (_now() + timedelta(hours=3)).replace(second=0, microsecond=0) if over else start
    event_id, type_ids = await _create_event(season, venue_id, plan, made_start)
    if plan.fate == "draft":
        created = now - timedelta(days=rng.randint(3, 8))
        async with season.database.transaction() as session:
            await date_event(
                session, event_id, created=created, published=None, start_shift=timedelta(0)
            )
        return
    published = min(
        start - timedelta(days=rng.randint(55, 80)), now - timedelta(days=rng.randint(10, 20))
    )
    created = published - timedelta(days=rng.randint(2, 6))
    closes = {
        "completed": start - timedelta(minutes=45),
        "on_sale": now - timedelta(hours=1),
        "cancelled": now - timedelta(days=2),
    }[plan.fate]
    orders = _orders_to_sell(rng, plan, type_ids)
    moments = _sale_moments(rng, len(orders), published + timedelta(hours=1), closes)
    paid = []
    for (type_id, quantity), moment in zip(orders, moments, strict=True):
        sold = await _sale(season, rng, plan, event_id, type_id, quantity, moment)
        if sold is not None and sold[1]:
            paid.append(sold[0])
    async with season.database.transaction() as session:
        await date_event(
            session, event_id, created=created, published=published, start_shift=start - made_start
        )
    if plan.fate == "cancelled":
        await _cancel(season, event_id, paid)
        return
    await _refunds(season, rng, paid)
    if plan.fate == "completed":
        async with season.database.transaction() as session:
            completed = EventUpdate.model_validate({"status": "completed"})
            await update_event(session, season.kv, ADMIN, event_id, completed, _now())


async def _refunds(season: Season, rng: random.Random, paid: list[str]) -> None:
    """Some buyers ask for their money back: a few full refunds, a few halves."""
    async with season.database.transaction() as session:
        refunded = []
        for order_id in paid:
            roll = rng.random()
            if roll >= 0.1:
                continue
            amount = None
            if roll >= 0.04:
                total = await session.scalar(
                    text("SELECT total FROM orders WHERE id = :id"), {"id": uuid.UUID(order_id)}
                )
                amount = (Decimal(total) / 2).quantize(Decimal("0.01"))
            await request_refund(
                session, ADMIN, uuid.UUID(order_id), RefundCreate(amount=amount, reason=None)
            )
            refunded.append(order_id)
        await settle_refunds(session, season.registry, refunded)


async def _cancel(season: Season, event_id: uuid.UUID, paid: list[str]) -> None:
    """The cancellation through its own path: holds released, every paid order refunded (and the
    refunds paid out), tickets invalidated, holders told."""
    async with season.database.transaction() as session:
        reason = EventCancel(reason="Weather warning: the arena is closed for safety")
        await cancel_event(session, season.kv, ADMIN, event_id, reason, _now())
        await settle_refunds(session, season.registry, paid)


async def seed_demo(database: Database, now: datetime | None = None) -> SeedSummary:
    """Make the demo season (nothing when it is already there)."""
    season = Season(database, MemoryStore(), callbacks(), now or _now())
    summary = season.summary
    async with database.transaction() as session:
        existing = await session.execute(
            text("SELECT 1 FROM venues WHERE metadata->>'demo' = 'true' LIMIT 1")
        )
        if existing.first() is not None:
            summary.already_seeded = True
            return summary
        venue_ids = []
        for name, city, state, capacity in VENUES:
            venue = await create_venue(
                session,
                ADMIN,
                VenueCreate(
                    name=name,
                    address=f"1 {name} Plaza",
                    city=city,
                    state=state,
                    country="US",
                    postal_code="10001",
                    capacity=capacity,
                    metadata={"demo": True},
                ),
            )
            venue_ids.append(venue.id)
    summary.venues = len(venue_ids)
    # every event's season at once (each from its own random stream, so the result does not
    # depend on how they interleave)
    await asyncio.gather(
        *(
            _event_season(season, random.Random(4242 + number), venue_ids[plan.venue], plan)
            for number, plan in enumerate(EVENTS)
        )
    )
    async with database.transaction() as session:
        await date_venues_and_customers(session, venue_ids, season.now - SEASON_OPENED)
        for number in range(5):
            await create_notification(
                session,
                ADMIN,
                NotificationCreate(
                    user_id=f"demo-customer-{number}",
                    type="welcome",
                    title="Welcome to TicketToken",
                    message="Your demo account is ready. Enjoy the show!",
                    data={"demo": True},
                ),
            )
            summary.notifications += 1
        counts = (
            await session.execute(
                text(
                    "SELECT (SELECT count(*) FROM customers WHERE venue_id = ANY(:v)),"
                    " (SELECT count(*) FROM orders o JOIN events e ON e.id = o.event_id"
                    "  WHERE e.venue_id = ANY(:v)),"
                    " (SELECT count(*) FROM tickets t JOIN events e ON e.id = t.event_id"
                    "  WHERE e.venue_id = ANY(:v))"
                ),
                {"v": venue_ids},
            )
        ).one()
        summary.customers, summary.orders, summary.tickets = (int(value) for value in counts)
    return summary


def seed(
    demo: Annotated[bool, typer.Option("--demo", help="Write the demo data set")] = False,
    orders: Annotated[
        int | None,
        typer.Option("--orders", min=1, help="A year of sales with this many orders (bulk)"),
    ] = None,
) -> None:
    """Load data into the database (``--demo``: venues, events, orders for every report;
    ``--orders N``: the bulk season of ``bulk_seed.py`` instead, e.g. 100000)."""
    if not demo:
        raise typer.BadParameter("nothing to seed: pass --demo")
    from tickettoken.kit.database_url import resolve_database_url
    from tickettoken.kit.settings import get_settings
    from tickettoken.migrations.runner import upgrade_to_head

    url = resolve_database_url(get_settings())
    upgrade_to_head(url)
    if orders is not None:
        from tickettoken.demo.bulk_seed import report_bulk_seed

        report_bulk_seed(url, orders)
        return
    report_seed(seed_demo_database(url))


def seed_demo_database(url: str) -> SeedSummary:
    """Seed the demo data set into a migrated database (for ``seed --demo`` and ``up --demo``):
    the season of the three venues, then the large venue (each written once)."""
    summary = asyncio.run(_run(url))
    summary.sync_venue = asyncio.run(seed_sync_venue(url))
    return summary


def report_seed(summary: SeedSummary) -> None:
    console = Console(stderr=True)
    large = summary.sync_venue
    if large is not None and not large.already_seeded:
        console.print(
            f"[green]large demo venue written[/green] ({large.venue_id}): {large.customers}"
            f" customers, {large.events} events, {large.ticket_types} ticket types,"
            f" {large.orders} orders"
        )
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
    database = Database(url, pool_min=1, pool_max=len(EVENTS) + 1)
    try:
        return await seed_demo(database)
    finally:
        await database.dispose()
