"""Business rules of the customers domain: who the buyer of a sale is, and who may see whom."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.customers import repository
from tickettoken.events.customers.schemas import CustomerDetails
from tickettoken.kit.auth import Principal, Role
from tickettoken.kit.errors import Conflict, NotFound, ValidationFailed


async def resolve_buyer(
    session: AsyncSession,
    principal: Principal,
    venue_id: uuid.UUID,
    customer_id: uuid.UUID | None,
    details: CustomerDetails | None,
) -> uuid.UUID:
    """The venue's customer who buys, created from ``details`` if new; its row stays locked.

    A customer token buys for itself: its own record of the venue, keyed by the token's subject
    (``customers.user_id``); the details it types only update that record. Venue managers and
    admins buy for a given ``customer_id`` or for the email-only record found or created by
    email. A typed email never attaches a record to a user account (that was an account
    takeover: see docs/decisions/event-service.md, "Customer records and user accounts").
    """
    try:
        if principal.role is Role.CUSTOMER:
            return await _resolve_own_customer(
                session, principal.sub, venue_id, customer_id, details
            )
        if customer_id is not None:
            found = await repository.lock_customer(session, venue_id, customer_id)
            if found is None:
                raise NotFound("Customer not found")
            return found[0]
        if details is None:
            raise ValidationFailed(
                "customer_id or customer is required",
                details=[{"field": "body.customer", "message": "required", "type": "missing"}],
            )
        return await repository.upsert_customer_by_email(session, venue_id, details)
    except IntegrityError as exc:
        raise Conflict("The customer is being created by another request; retry") from exc


async def _resolve_own_customer(
    session: AsyncSession,
    user_id: str,
    venue_id: uuid.UUID,
    customer_id: uuid.UUID | None,
    details: CustomerDetails | None,
) -> uuid.UUID:
    if customer_id is not None:
        found = await repository.lock_customer(session, venue_id, customer_id)
        if found is None or found[1] != user_id:
            raise NotFound("Customer not found")
        return found[0]
    return await repository.upsert_customer_of_user(session, venue_id, user_id, details)
