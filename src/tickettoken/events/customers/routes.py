"""Customer routes."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends

from tickettoken.events.customers.profiles import customer_profile
from tickettoken.events.dependencies import DbSession
from tickettoken.kit.auth import Principal, current_principal
from tickettoken.kit.pagination import ok

router = APIRouter(prefix="/api/v1", tags=["customers"])


@router.get("/customers/{customer_id}/profile")
async def get_customer_profile(
    customer_id: uuid.UUID,
    session: DbSession,
    principal: Principal = Depends(current_principal),
) -> dict[str, Any]:
    """Statistics, purchase history, favourite categories and upcoming events of a customer."""
    return ok(await customer_profile(session, principal, customer_id))
