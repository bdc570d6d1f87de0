"""Inventory's hold (``events.inventory.service.hold``) on its own: refusals come back as values
with nothing written, a batch is all or nothing, and every value (a JWT ``sub`` is text the
platform did not choose) reaches the audit row verbatim, bound, never spliced into SQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest
from tests.events.reservations.sales_catalog import Catalog, create_catalog, ticket_counts

from tickettoken.events.audit.service import AuditContext, AuditRow
from tickettoken.events.inventory.service import HoldOutcome, NewHold, hold

HOSTILE = "x'); DELETE FROM audit_log; --\\ $$ E'\\x41 😀"


@pytest.fixture
async def connection(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    yield conn
    await conn.close()


async def new_customer(conn: asyncpg.Connection, catalog: Catalog) -> uuid.UUID:
    customer_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO customers (venue_id, user_id) VALUES ($1, $2) RETURNING id",
        catalog.venue_id,
        f"inv-{uuid.uuid4().hex}",
    )
    return customer_id


def new_hold(catalog: Catalog, customer_id: uuid.UUID, quantity: int) -> NewHold:
    now = datetime.now(UTC)
    return NewHold(
        id=uuid.uuid4(),
        event_id=catalog.event_id,
        ticket_type_id=catalog.ticket_type_id,
        customer_id=customer_id,
        quantity=quantity,
        unit_price=Decimal("25.00"),
        currency="USD",
        created_at=now,
        expires_at=now + timedelta(minutes=15),
    )


async def test_refusals_are_values_and_hold_nothing(
    database_url: str, connection: asyncpg.Connection
) -> None:
    catalog = await create_catalog(database_url, quantity=5)
    buyer = await new_customer(connection, catalog)
    assert await hold(connection, [new_hold(catalog, buyer, 6)], 50) is HoldOutcome.SOLD_OUT
    assert await hold(connection, [new_hold(catalog, buyer, 3)], 2) is HoldOutcome.CUSTOMER_LIMIT
    held = new_hold(catalog, buyer, 3)
    assert await hold(connection, [held], 50) is HoldOutcome.HELD
    assert await ticket_counts(database_url, catalog.ticket_type_id) == (5, 0, 3)
    await connection.execute(
        "UPDATE events SET status = 'cancelled' WHERE id = $1", catalog.event_id
    )
    assert await hold(connection, [new_hold(catalog, buyer, 1)], 50) is HoldOutcome.NOT_PUBLISHED
    assert await ticket_counts(database_url, catalog.ticket_type_id) == (5, 0, 3)
    count = await connection.fetchval(
        "SELECT count(*) FROM reservations WHERE ticket_type_id = $1", catalog.ticket_type_id
    )
    assert count == 1


async def test_a_refused_hold_leaves_no_audit_rows(
    database_url: str, connection: asyncpg.Connection
) -> None:
    """The audit rows go in before the hot row is locked (migration 0012); a refusal after that
    point takes them out again."""
    catalog = await create_catalog(database_url, quantity=2)
    buyer = await new_customer(connection, catalog)
    request_id = f"req-{uuid.uuid4().hex}"
    context = AuditContext("buyer", "customer", request_id, None)

    def audited(held: NewHold) -> list[AuditRow]:
        return [AuditRow(context, "create", "reservation", held.id, None, held.as_row())]

    too_many = new_hold(catalog, buyer, 3)
    assert await hold(connection, [too_many], 50, audited(too_many)) is HoldOutcome.SOLD_OUT
    await connection.execute(
        "UPDATE events SET status = 'cancelled' WHERE id = $1", catalog.event_id
    )
    late = new_hold(catalog, buyer, 1)
    assert await hold(connection, [late], 50, audited(late)) is HoldOutcome.NOT_PUBLISHED
    written = await connection.fetchval(
        "SELECT count(*) FROM audit_log WHERE request_id = $1", request_id
    )
    assert written == 0
    assert await ticket_counts(database_url, catalog.ticket_type_id) == (2, 0, 0)


async def test_a_batch_is_all_or_nothing(database_url: str, connection: asyncpg.Connection) -> None:
    catalog = await create_catalog(database_url, quantity=4)
    buyers = [await new_customer(connection, catalog) for _ in range(3)]
    batch = [new_hold(catalog, buyer, 2) for buyer in buyers]
    assert await hold(connection, batch, 50) is HoldOutcome.SOLD_OUT
    assert await ticket_counts(database_url, catalog.ticket_type_id) == (4, 0, 0)
    assert await hold(connection, batch[:2], 50) is HoldOutcome.HELD
    assert await ticket_counts(database_url, catalog.ticket_type_id) == (4, 0, 4)


async def test_hostile_audit_text_is_stored_verbatim(
    database_url: str, connection: asyncpg.Connection
) -> None:
    catalog = await create_catalog(database_url, quantity=5)
    buyer = await new_customer(connection, catalog)
    held = new_hold(catalog, buyer, 1)
    request_id = f"req-{uuid.uuid4().hex}"
    context = AuditContext(HOSTILE, "customer", request_id, "203.0.113.9")
    row = AuditRow(context, "create", "reservation", held.id, None, {"note": HOSTILE})
    assert await hold(connection, [held], 50, [row]) is HoldOutcome.HELD
    stored = await connection.fetchrow(
        "SELECT actor_id, after, host(ip) AS ip FROM audit_log WHERE request_id = $1", request_id
    )
    assert stored is not None
    assert stored["actor_id"] == HOSTILE and stored["ip"] == "203.0.113.9"
    assert json.loads(stored["after"]) == {"note": HOSTILE}
