"""Two bidirectional customer syncs of one venue at once (different providers) pull overlapping
customers in their own listing orders; each page must lock its customer rows in one order (by id)
so neither waits on the other in a cycle (PostgreSQL would end one with "deadlock detected")."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import text
from tests.integrations.sync.conftest import seed_venue

from tickettoken.integrations.sync.customer_fetch import RemoteCustomer
from tickettoken.integrations.sync.customer_pull import PullResult, pull_customers
from tickettoken.kit.db import Database

CUSTOMERS = 30
ROUNDS = 8


async def _customers(db: Database, venue: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    made = []
    async with db.transaction() as session:
        for n in range(CUSTOMERS):
            customer, email = uuid.uuid4(), f"lock{n}-{venue.hex[:8]}@example.com"
            await session.execute(
                text(
                    "INSERT INTO customers (id, venue_id, email, first_name)"
                    " VALUES (:id, :venue, :email, 'Ada')"
                ),
                {"id": customer, "venue": venue, "email": email},
            )
            made.append((customer, email))
    return made


def _remotes(
    provider: str, customers: list[tuple[uuid.UUID, str]], round_no: int
) -> list[RemoteCustomer]:
    """The provider's listing of the customers, each matched by email (the provider's own ids
    differ per round, so every round matches afresh instead of by an earlier link)."""
    return [
        RemoteCustomer(
            remote_id=f"{provider}-{round_no}-{n}",
            view={"email": email, "first_name": "Ada"},
        )
        for n, (_, email) in enumerate(customers)
    ]


async def _pull(db: Database, venue: uuid.UUID, provider: str, page: list[RemoteCustomer]) -> int:
    async with db.transaction() as session:
        result: PullResult = await pull_customers(session, venue, provider, page)
    return (
        result.unchanged
        + result.applied
        + result.unmatched
        + result.kept_platform
        + result.imported
    )


async def test_two_pulls_in_opposite_orders_never_deadlock(db: Database) -> None:
    venue = (await seed_venue(db, 0))["venue"]
    customers = await _customers(db, venue)
    for round_no in range(ROUNDS):
        square = _remotes("square", customers, round_no)
        stripe = list(reversed(_remotes("stripe", customers, round_no)))
        # Different providers, overlapping rows, opposite orders, interleaved on one event loop.
        counts = await asyncio.gather(
            _pull(db, venue, "square", square),
            _pull(db, venue, "stripe", stripe),
            return_exceptions=True,
        )
        failures = [c for c in counts if isinstance(c, BaseException)]
        assert not failures, f"round {round_no}: {failures[0]!r}"
        assert counts == [CUSTOMERS, CUSTOMERS]


async def test_two_pulls_importing_the_same_new_customers_in_opposite_orders(
    db: Database,
) -> None:
    """Customers only the providers hold (same emails at both): each pull imports them; the
    inserts wait on each other's uncommitted rows of the same email, so they too must come in
    one order."""
    venue = (await seed_venue(db, 0))["venue"]
    for round_no in range(ROUNDS):
        emails = [f"new{round_no}-{n}-{venue.hex[:8]}@example.com" for n in range(CUSTOMERS)]
        fresh = [(uuid.uuid4(), email) for email in emails]
        square = _remotes("square", fresh, round_no)
        stripe = list(reversed(_remotes("stripe", fresh, round_no)))
        counts = await asyncio.gather(
            _pull(db, venue, "square", square),
            _pull(db, venue, "stripe", stripe),
            return_exceptions=True,
        )
        failures = [c for c in counts if isinstance(c, BaseException)]
        assert not failures, f"round {round_no}: {failures[0]!r}"
        async with db.transaction() as session:
            made = await session.scalar(
                text("SELECT count(*) FROM customers WHERE venue_id = :venue AND email = ANY(:e)"),
                {"venue": venue, "e": emails},
            )
        assert made == CUSTOMERS  # imported once each, by whichever pull came first
