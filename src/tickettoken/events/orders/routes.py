"""Order routes: confirm a hold (creates the order and queues its payment), read, refund.

Confirmation and refunds accept ``Idempotency-Key`` (``kit.idempotency.idempotent``): the answer
is stored in the request's transaction, with the order or refund it describes.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from tickettoken.events.dependencies import DbSession
from tickettoken.events.orders import service
from tickettoken.events.orders.schemas import (
    OrderRead,
    OrderWithRefund,
    RefundCreate,
    ReservationConfirm,
)
from tickettoken.kit.auth import Caller
from tickettoken.kit.contracts import (
    AUTHENTICATED,
    COMMON_ERRORS,
    Ok,
    Page,
    created,
    errors,
    link,
)
from tickettoken.kit.idempotency import Idempotent, idempotent
from tickettoken.kit.pagination import PageParams, ok, page_params, paginated

router = APIRouter(prefix="/api/v1", tags=["orders"], responses={**COMMON_ERRORS, **AUTHENTICATED})
# Confirmation and refunds: a malformed or oversized body, an unknown id, a state that does not
# allow it or an Idempotency-Key already in use with another body.
MONEY_ERRORS = errors(400, 404, 409, 413)
_NEW = {"path.order_id": "$response.body#/data/id"}
ORDER_CREATED = created(
    201,
    "Order created, payment queued",
    GetOrder=link("/api/v1/orders/{order_id}", "GET", parameters=_NEW),
    RefundOrder=link("/api/v1/orders/{order_id}/refund", "POST", parameters=_NEW),
    CustomerProfile=link(
        "/api/v1/customers/{customer_id}/profile",
        "GET",
        parameters={"path.customer_id": "$response.body#/data/customer_id"},
    ),
)


@router.post(
    "/reservations/{reservation_id}/confirm",
    status_code=201,
    response_model=Ok[OrderRead],
    responses={**MONEY_ERRORS, **ORDER_CREATED},
)
async def confirm_reservation(
    reservation_id: uuid.UUID,
    session: DbSession,
    principal: Caller,
    idem: Annotated[Idempotent, idempotent("event.confirm")],
    body: ReservationConfirm | None = None,
) -> JSONResponse:
    """Create the order, its items and tickets, and queue ``payment-process`` atomically."""
    if idem.replay is not None:
        return idem.replayed()
    data = body or ReservationConfirm()
    order = await service.confirm_reservation(session, principal, reservation_id, data)
    return await idem.respond(201, ok(order))


@router.post(
    "/orders/{order_id}/refund",
    status_code=202,
    response_model=Ok[OrderWithRefund],
    response_description="Refund queued",
    responses=MONEY_ERRORS,
)
async def refund_order(
    order_id: uuid.UUID,
    session: DbSession,
    principal: Caller,
    idem: Annotated[Idempotent, idempotent("event.refund")],
    body: RefundCreate | None = None,
) -> JSONResponse:
    """Queue a refund (all that is left, or ``amount``); partial refunds are allowed."""
    if idem.replay is not None:
        return idem.replayed()
    data = body or RefundCreate()
    refund = await service.request_refund(session, principal, order_id, data)
    return await idem.respond(202, ok(refund))


@router.get("/orders/{order_id}", response_model=Ok[OrderRead], responses=errors(404))
async def get_order(
    order_id: uuid.UUID,
    session: DbSession,
    principal: Caller,
) -> dict[str, Any]:
    return ok(await service.get_order(session, principal, order_id))


@router.get("/orders", response_model=Page[OrderRead], responses=errors(404))
async def list_orders(
    session: DbSession,
    principal: Caller,
    page: Annotated[PageParams, Depends(page_params)],
    customer_id: uuid.UUID | None = Query(default=None),
    event_id: uuid.UUID | None = Query(default=None),
) -> dict[str, Any]:
    """Orders of a customer or an event that the caller may see, newest first."""
    items, total = await service.list_orders(
        session, principal, customer_id=customer_id, event_id=event_id, page=page
    )
    return paginated(items, page, total)
