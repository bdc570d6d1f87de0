"""Rows the sales tests need (venue, published event, ticket types), written straight to the
database so the sales tests do not depend on the catalogue routes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine


@dataclass(frozen=True)
class Catalog:
    venue_id: uuid.UUID
    event_id: uuid.UUID
    ticket_type_id: uuid.UUID


async def insert_catalog(
    session: AsyncSession,
    *,
    quantity: int = 100,
    price: Decimal = Decimal("25.00"),
    max_per_order: int = 6,
    status: str = "published",
    starts_in: timedelta = timedelta(days=10),
    sale_start: datetime | None = None,
    sale_end: datetime | None = None,
    category: str = "concert",
    venue_id: uuid.UUID | None = None,
    capacity: int | None = None,
) -> Catalog:
    if venue_id is None:
        venue_id = (
            await session.execute(
                text(
                    "INSERT INTO venues (name, city, capacity) VALUES (:name, 'Testville', 100000)"
                    " RETURNING id"
                ),
                {"name": f"Venue {uuid.uuid4().hex[:8]}"},
            )
        ).scalar_one()
    start = datetime.now(UTC) + starts_in
    event_id = (
        await session.execute(
            text(
                """
                INSERT INTO events (venue_id, name, category, start_date, end_date, capacity,
                                    status)
                VALUES (:venue_id, :name, :category, :start, :end, :capacity, :status)
                RETURNING id
                """
            ),
            {
                "venue_id": venue_id,
                "name": f"Event {uuid.uuid4().hex[:8]}",
                "category": category,
                "start": start,
                "end": start + timedelta(hours=3),
                "capacity": capacity or max(quantity, 1) * 2,
                "status": status,
            },
        )
    ).scalar_one()
    ticket_type_id = await insert_ticket_type(
        session,
        event_id,
        quantity=quantity,
        price=price,
        max_per_order=max_per_order,
        sale_start=sale_start,
        sale_end=sale_end,
    )
    return Catalog(venue_id, event_id, ticket_type_id)


async def insert_ticket_type(
    session: AsyncSession,
    event_id: uuid.UUID,
    *,
    quantity: int = 100,
    price: Decimal = Decimal("25.00"),
    max_per_order: int = 6,
    sale_start: datetime | None = None,
    sale_end: datetime | None = None,
) -> uuid.UUID:
    ticket_type_id: uuid.UUID = (
        await session.execute(
            text(
                """
                INSERT INTO ticket_types (event_id, name, price, quantity, max_per_order,
                                          sale_start, sale_end)
                VALUES (:event_id, :name, :price, :quantity, :max_per_order, :sale_start,
                        :sale_end)
                RETURNING id
                """
            ),
            {
                "event_id": event_id,
                "name": f"Type {uuid.uuid4().hex[:8]}",
                "price": price,
                "quantity": quantity,
                "max_per_order": max_per_order,
                "sale_start": sale_start,
                "sale_end": sale_end,
            },
        )
    ).scalar_one()
    return ticket_type_id


async def create_catalog(database_url: str, **options: object) -> Catalog:
    """Commit a catalogue in its own connection (for tests that run real servers)."""
    engine = create_async_engine(database_url)
    try:
        async with AsyncSession(engine) as session, session.begin():
            return await insert_catalog(session, **options)  # type: ignore[arg-type]
    finally:
        await engine.dispose()


async def ticket_counts(database_url: str, ticket_type_id: uuid.UUID) -> tuple[int, int, int]:
    """(quantity, sold, reserved) as committed now."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT quantity, sold, reserved FROM ticket_types WHERE id = :id"),
                    {"id": ticket_type_id},
                )
            ).one()
            return int(row[0]), int(row[1]), int(row[2])
    finally:
        await engine.dispose()
