"""The ``box_office_sales`` rows (migration 0015): one per sale job, unique by its key, so a
job that runs again finds its first outcome instead of taking the seats twice."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_FIND = text("SELECT id, status FROM box_office_sales WHERE idempotency_key = :key")
_INSERT = text(
    "INSERT INTO box_office_sales (idempotency_key, venue_id, ticket_type_id, quantity, status,"
    " source, details) VALUES (:key, :venue, :ticket_type, :quantity, :status, :source,"
    " CAST(:details AS jsonb)) RETURNING id"
)
_TICKET_TYPE_OF_VENUE = text(
    "SELECT tt.event_id FROM ticket_types tt JOIN events e ON e.id = tt.event_id"
    " WHERE tt.id = :ticket_type AND e.venue_id = :venue"
)


async def find(session: AsyncSession, key: str) -> Any:
    return (await session.execute(_FIND, {"key": key})).first()


async def event_of_venue_ticket_type(
    session: AsyncSession, venue_id: uuid.UUID, ticket_type_id: uuid.UUID
) -> uuid.UUID | None:
    """The ticket type's event if it belongs to the venue (reads only: no lock)."""
    event: uuid.UUID | None = (
        await session.execute(
            _TICKET_TYPE_OF_VENUE, {"ticket_type": ticket_type_id, "venue": venue_id}
        )
    ).scalar()
    return event


async def insert(
    session: AsyncSession,
    *,
    key: str,
    venue_id: uuid.UUID,
    ticket_type_id: uuid.UUID,
    quantity: int,
    status: str,
    source: str,
    details: dict[str, Any],
) -> uuid.UUID:
    sale_id: uuid.UUID = (
        await session.execute(
            _INSERT,
            {
                "key": key,
                "venue": venue_id,
                "ticket_type": ticket_type_id,
                "quantity": quantity,
                "status": status,
                "source": source,
                "details": json.dumps(details, default=str),
            },
        )
    ).scalar_one()
    return sale_id


_RETURNABLE = text(
    "SELECT COALESCE(sum(quantity) FILTER (WHERE status = 'applied'), 0)"
    " - COALESCE(sum(CAST(details ->> 'given_back' AS integer))"
    "   FILTER (WHERE status = 'returned'), 0)"
    " FROM box_office_sales WHERE venue_id = :venue AND ticket_type_id = :ticket_type"
)


async def returnable(session: AsyncSession, venue_id: uuid.UUID, ticket_type_id: uuid.UUID) -> int:
    """Seats the venue's box-office sales of the ticket type took and no return gave back yet
    (read under the ticket type's lock, so returns of one ticket type run one at a time)."""
    left = (
        await session.execute(_RETURNABLE, {"venue": venue_id, "ticket_type": ticket_type_id})
    ).scalar_one()
    return int(left)
