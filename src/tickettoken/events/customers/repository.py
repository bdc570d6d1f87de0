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

# The consent a buyer gives or withdraws at checkout (``marketing_consent`` None: unchanged).
_CONSENT = {
    "CONSENT_COLUMNS": "marketing_consent, marketing_consent_at, marketing_consent_source",
    "CONSENT_VALUES": "coalesce(CAST(:consent AS boolean), false),"
    " CASE WHEN CAST(:consent AS boolean) IS NOT NULL THEN now() END,"
    " CASE WHEN CAST(:consent AS boolean) IS NOT NULL THEN 'checkout' END",
    "CONSENT_UPDATE": "marketing_consent = coalesce(CAST(:consent AS boolean),"
    " customers.marketing_consent),"
    " marketing_consent_at = CASE WHEN CAST(:consent AS boolean) IS DISTINCT FROM"
    " customers.marketing_consent AND CAST(:consent AS boolean) IS NOT NULL THEN now()"
    " ELSE customers.marketing_consent_at END,"
    " marketing_consent_source = CASE WHEN CAST(:consent AS boolean) IS DISTINCT FROM"
    " customers.marketing_consent AND CAST(:consent AS boolean) IS NOT NULL THEN 'checkout'"
    " ELSE customers.marketing_consent_source END",
}


def _with_consent(sql: str) -> str:
    for name, part in _CONSENT.items():
        sql = sql.replace(name, part)
    return sql


_LOCK_BY_ID = text(
    "SELECT id, user_id FROM customers WHERE id = :id AND venue_id = :venue_id FOR UPDATE"
)
# The box office's records: found by email among email-only records, never a user account's.
_UPSERT_BY_EMAIL = text(
    _with_consent(
        """
    INSERT INTO customers (venue_id, email, first_name, last_name, phone, CONSENT_COLUMNS)
    VALUES (:venue_id, :email, :first_name, :last_name, :phone, CONSENT_VALUES)
    ON CONFLICT (venue_id, lower(email)) WHERE user_id IS NULL DO UPDATE SET
        first_name = coalesce(EXCLUDED.first_name, customers.first_name),
        last_name = coalesce(EXCLUDED.last_name, customers.last_name),
        phone = coalesce(EXCLUDED.phone, customers.phone),
        CONSENT_UPDATE
    RETURNING id
    """
    )
)
# A user account's own record, found by the token's subject alone; the contact details it types
# update only that record.
_UPSERT_OF_USER = text(
    _with_consent(
        """
    INSERT INTO customers (venue_id, user_id, email, first_name, last_name, phone,
        CONSENT_COLUMNS)
    VALUES (:venue_id, :user_id, :email, :first_name, :last_name, :phone, CONSENT_VALUES)
    ON CONFLICT (venue_id, user_id) WHERE user_id IS NOT NULL DO UPDATE SET
        email = coalesce(EXCLUDED.email, customers.email),
        first_name = coalesce(EXCLUDED.first_name, customers.first_name),
        last_name = coalesce(EXCLUDED.last_name, customers.last_name),
        phone = coalesce(EXCLUDED.phone, customers.phone),
        CONSENT_UPDATE
    RETURNING id
    """
    )
)


async def lock_customer(
    session: AsyncSession, venue_id: uuid.UUID, customer_id: uuid.UUID
) -> tuple[uuid.UUID, str | None] | None:
    row = (await session.execute(_LOCK_BY_ID, {"id": customer_id, "venue_id": venue_id})).first()
    return (row[0], row[1]) if row else None


async def upsert_customer_by_email(
    session: AsyncSession, venue_id: uuid.UUID, details: CustomerDetails
) -> uuid.UUID:
    """The venue's email-only record of ``details.email`` (created, or updated and locked)."""
    row = (
        await session.execute(_UPSERT_BY_EMAIL, {"venue_id": venue_id, **_contact(details)})
    ).one()
    customer_id: uuid.UUID = row[0]
    return customer_id


async def upsert_customer_of_user(
    session: AsyncSession, venue_id: uuid.UUID, user_id: str, details: CustomerDetails | None
) -> uuid.UUID:
    """The venue's record of the user account ``user_id`` (created, or updated and locked)."""
    contact = _contact(details) if details is not None else dict.fromkeys(_CONTACT_FIELDS)
    row = (
        await session.execute(
            _UPSERT_OF_USER, {"venue_id": venue_id, "user_id": user_id, **contact}
        )
    ).one()
    customer_id: uuid.UUID = row[0]
    return customer_id


_CONTACT_FIELDS = ("email", "first_name", "last_name", "phone", "consent")


def _contact(details: CustomerDetails) -> dict[str, str | bool | None]:
    return {
        "email": str(details.email),
        "first_name": details.first_name,
        "last_name": details.last_name,
        "phone": details.phone,
        "consent": details.marketing_consent,
    }
