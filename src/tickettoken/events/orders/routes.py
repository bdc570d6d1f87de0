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
from tickettoken.events.orders.schemas import OrderRead, RefundCreate, ReservationConfirm
from tickettoken.kit.auth import Principal, current_principal
from tickettoken.kit.idempotency import Idempotent, idempotent
from tickettoken.kit.pagination import PageParams, ok, page_params, paginated

router = APIRouter(prefix="/api/v1", tags=["orders"])

ORDER_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"description": "The order", "model": OrderRead}
}


@router.post(
    "/reservations/{reservation_id}/confirm",
    status_code=201,
    responses={201: {"description": "Order created, payment queued", "model": OrderRead}},
)
async def confirm_reservation(
    reservation_id: uuid.UUID,
    session: DbSession,
    idem: Annotated[Idempotent, idempotent("event.confirm")],
    body: ReservationConfirm | None = None,
    principal: Principal = Depends(current_principal),
) -> JSONResponse:
    """Create the order, its items and tickets, and queue ``payment-process`` atomically."""
    if idem.replay is not None:
        return idem.replayed()
    data = body or ReservationConfirm()
    order = await service.confirm_reservation(session, principal, reservation_id, data)
    return await idem.respond(201, ok(order))


@router.post("/orders/{order_id}/refund", status_code=202)
async def refund_order(
    order_id: uuid.UUID,
    session: DbSession,
    idem: Annotated[Idempotent, idempotent("event.refund")],
    body: RefundCreate | None = None,
    principal: Principal = Depends(current_principal),
) -> JSONResponse:
    """Queue a refund (all that is left, or ``amount``); partial refunds are allowed."""
    if idem.replay is not None:
        return idem.replayed()
    data = body or RefundCreate()
    refund = await service.request_refund(session, principal, order_id, data)
    return await idem.respond(202, ok(refund))


@router.get("/orders/{order_id}", responses=ORDER_RESPONSE)
async def get_order(
    order_id: uuid.UUID,
    session: DbSession,
    principal: Principal = Depends(current_principal),
) -> dict[str, Any]:
    return ok(await service.get_order(session, principal, order_id))


@router.get("/orders")
async def list_orders(
    session: DbSession,
    customer_id: uuid.UUID | None = Query(default=None),
    event_id: uuid.UUID | None = Query(default=None),
    page: PageParams = Depends(page_params),
    principal: Principal = Depends(current_principal),
) -> dict[str, Any]:
    """Orders of a customer or an event that the caller may see, newest first."""
    items, total = await service.list_orders(
        session, principal, customer_id=customer_id, event_id=event_id, page=page
    )
    return paginated(items, page, total)
