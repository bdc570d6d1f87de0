"""Customer routes."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from tickettoken.events.customers.profiles import customer_profile
from tickettoken.events.customers.schemas import CustomerProfile
from tickettoken.events.dependencies import DbSession
from tickettoken.kit.auth import Caller
from tickettoken.kit.contracts import AUTHENTICATED, COMMON_ERRORS, Ok, errors
from tickettoken.kit.pagination import ok

router = APIRouter(
    prefix="/api/v1", tags=["customers"], responses={**COMMON_ERRORS, **AUTHENTICATED}
)


@router.get(
    "/customers/{customer_id}/profile", response_model=Ok[CustomerProfile], responses=errors(404)
)
async def get_customer_profile(
    customer_id: uuid.UUID,
    session: DbSession,
    principal: Caller,
) -> dict[str, Any]:
    """Statistics, purchase history, favourite categories and upcoming events of a customer."""
    return ok(await customer_profile(session, principal, customer_id))
