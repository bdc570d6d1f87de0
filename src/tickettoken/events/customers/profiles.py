"""Customer profiles: customers see only themselves (every customer row of their user id),
venue staff only customers of their venues, administrators everyone; 404 otherwise."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.customers import profile_queries
from tickettoken.events.customers.models import Customer
from tickettoken.kit.auth import Principal, Role
from tickettoken.kit.errors import NotFound

HISTORY_LIMIT = 50


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return {key: _json(value) for key, value in row.items()}


async def _visible_customer_ids(
    session: AsyncSession, principal: Principal, customer: Customer
) -> list[uuid.UUID]:
    if principal.role is Role.CUSTOMER:
        if customer.user_id != principal.sub:
            raise NotFound("Customer not found")
        same_user = await session.execute(
            select(Customer.id).where(Customer.user_id == principal.sub).order_by(Customer.id)
        )
        return list(same_user.scalars())
    if not principal.can_read_venue(customer.venue_id):
        raise NotFound("Customer not found")
    return [customer.id]


async def customer_profile(
    session: AsyncSession, principal: Principal, customer_id: uuid.UUID
) -> dict[str, Any]:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise NotFound("Customer not found")
    ids = await _visible_customer_ids(session, principal, customer)
    stats = _row(await profile_queries.statistics(session, ids))
    return {
        "customer": {
            "id": str(customer.id),
            "venue_id": str(customer.venue_id),
            "email": customer.email,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "phone": customer.phone,
            "user_id": customer.user_id,
            "marketing_consent": customer.marketing_consent,
            "marketing_consent_at": customer.marketing_consent_at.isoformat()
            if customer.marketing_consent_at
            else None,
            "created_at": customer.created_at.isoformat(),
            "updated_at": customer.updated_at.isoformat(),
        },
        "statistics": stats,
        "purchase_history": [
            _row(r) for r in await profile_queries.history(session, ids, HISTORY_LIMIT)
        ],
        "favourite_categories": [
            _row(r) for r in await profile_queries.favourite_categories(session, ids)
        ],
        "upcoming_events": [_row(r) for r in await profile_queries.upcoming_events(session, ids)],
    }
