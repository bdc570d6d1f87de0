"""Every query of the customers domain (raw SQL: the buyer lookup sits on the reservation path).

Each lookup that resolves the buyer of a sale also locks the customer row (``FOR UPDATE`` or the
row lock of ``INSERT ... ON CONFLICT DO UPDATE``), so two sales of one customer run one after the
other and the per-customer limit is checked against committed data.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.customers.schemas import CustomerDetails

_LOCK_BY_USER = text(
    "SELECT id FROM customers WHERE venue_id = :venue_id AND user_id = :user_id FOR UPDATE"
)
_LOCK_BY_ID = text(
    "SELECT id, user_id FROM customers WHERE id = :id AND venue_id = :venue_id FOR UPDATE"
)
_UPSERT_BY_EMAIL = text(
    """
    INSERT INTO customers (venue_id, email, first_name, last_name, phone, user_id)
    VALUES (:venue_id, :email, :first_name, :last_name, :phone, :user_id)
    ON CONFLICT (venue_id, lower(email)) DO UPDATE SET
        first_name = coalesce(EXCLUDED.first_name, customers.first_name),
        last_name = coalesce(EXCLUDED.last_name, customers.last_name),
        phone = coalesce(EXCLUDED.phone, customers.phone),
        user_id = coalesce(customers.user_id, EXCLUDED.user_id)
    RETURNING id, user_id
    """
)
_UPSERT_BY_USER = text(
    """
    INSERT INTO customers (venue_id, user_id) VALUES (:venue_id, :user_id)
    ON CONFLICT (venue_id, user_id) WHERE user_id IS NOT NULL
    DO UPDATE SET user_id = EXCLUDED.user_id
    RETURNING id
    """
)


async def lock_customer_of_user(
    session: AsyncSession, venue_id: uuid.UUID, user_id: str
) -> uuid.UUID | None:
    row = (await session.execute(_LOCK_BY_USER, {"venue_id": venue_id, "user_id": user_id})).first()
    return row[0] if row else None


async def lock_customer(
    session: AsyncSession, venue_id: uuid.UUID, customer_id: uuid.UUID
) -> tuple[uuid.UUID, str | None] | None:
    row = (await session.execute(_LOCK_BY_ID, {"id": customer_id, "venue_id": venue_id})).first()
    return (row[0], row[1]) if row else None


async def upsert_customer_by_email(
    session: AsyncSession, venue_id: uuid.UUID, details: CustomerDetails, user_id: str | None
) -> tuple[uuid.UUID, str | None]:
    row = (
        await session.execute(
            _UPSERT_BY_EMAIL,
            {
                "venue_id": venue_id,
                "email": str(details.email),
                "first_name": details.first_name,
                "last_name": details.last_name,
                "phone": details.phone,
                "user_id": user_id,
            },
        )
    ).one()
    return row[0], row[1]


async def upsert_customer_of_user(
    session: AsyncSession, venue_id: uuid.UUID, user_id: str
) -> uuid.UUID:
    row = (await session.execute(_UPSERT_BY_USER, {"venue_id": venue_id, "user_id": user_id})).one()
    customer_id: uuid.UUID = row[0]
    return customer_id
