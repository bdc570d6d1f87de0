"""The flash-sale path: a customer buying with nothing but their token (no customer details, no
``Idempotency-Key``), in two round trips and without the ORM.

Measured: through the ORM session every statement costs several times its database time in
Python (``/health/ready``, one ``SELECT 1``, reaches a sixth of ``/health``'s rate here), and the
general path needs six. This one talks to the driver through its own pool (``driver_pool``) and
sends the holds of one ticket type that arrive together as one batch (``hold_batches``): (1) the
sale context plus the buyers' customer rows (found or created) as one autocommitted statement,
(2) ``BEGIN``, lock the buyers, the holds, ``COMMIT`` as one multi-statement round trip. Same
checks and same outcomes as ``service.reserve_tickets``; pricing rules, when the ticket type has
any, are quoted by ``quote_price``.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request

from tickettoken.events.audit.service import audit_context
from tickettoken.events.reservations.hold_batches import HoldBatcher
from tickettoken.events.reservations.schemas import ReservationCreate
from tickettoken.kit.auth import Principal, Role


def takes_token_only_path(
    principal: Principal, request: ReservationCreate, key: str | None
) -> bool:
    return (
        key is None
        and principal.role is Role.CUSTOMER
        and request.customer_id is None
        and request.customer is None
    )


async def reserve_with_token_only(
    batcher: HoldBatcher,
    principal: Principal,
    event_id: uuid.UUID,
    body: ReservationCreate,
    *,
    hold_seconds: int,
    request: Request | None = None,
) -> dict[str, Any]:
    """Hold tickets for the token's customer (in a batch with the holds of the same ticket type
    that arrive meanwhile, ``hold_batches``); the committed reservation, audited with it."""
    audit = audit_context(principal, request)
    return await batcher.reserve(principal.sub, event_id, body, hold_seconds, audit)
