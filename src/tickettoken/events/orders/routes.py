"""Order routes: confirm a hold (creates the order and queues its payment), read, refund.

Confirmation and refunds own their transaction, so that an ``Idempotency-Key`` response is
stored in the same transaction as the order or refund it describes.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.dependencies import DbSession
from tickettoken.events.orders import service
from tickettoken.events.orders.schemas import (
    OrderRead,
    OrderWithRefund,
    RefundCreate,
    ReservationConfirm,
)
from tickettoken.kit import idempotency
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
from tickettoken.kit.db import get_database
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


async def _idempotent(
    request: Request,
    scope: str,
    fingerprint: dict[str, Any],
    status: int,
    work: Callable[[AsyncSession], Awaitable[dict[str, Any]]],
) -> JSONResponse:
    database = get_database(request)
    async with idempotency.guard(
        database,
        scope=scope,
        key=idempotency.key_from_header(request),
        request_hash=idempotency.fingerprint(fingerprint),
    ) as call:
        if call.replay is not None:
            return JSONResponse(call.replay.body, status_code=call.replay.status)
        async with call.transaction() as session:
            body = ok(await work(session))
            await call.complete(session, status, body)
    return JSONResponse(body, status_code=status)


@router.post(
    "/reservations/{reservation_id}/confirm",
    status_code=201,
    response_model=Ok[OrderRead],
    responses={**MONEY_ERRORS, **ORDER_CREATED},
)
async def confirm_reservation(
    reservation_id: uuid.UUID,
    request: Request,
    principal: Caller,
    body: ReservationConfirm | None = None,
) -> JSONResponse:
    """Create the order, its items and tickets, and queue ``payment-process`` atomically."""
    data = body or ReservationConfirm()

    async def work(session: AsyncSession) -> dict[str, Any]:
        return await service.confirm_reservation(session, principal, reservation_id, data, request)

    return await _idempotent(
        request,
        f"event.confirm:{principal.sub}",
        {"reservation_id": str(reservation_id), **data.model_dump(mode="json")},
        201,
        work,
    )


@router.post(
    "/orders/{order_id}/refund",
    status_code=202,
    response_model=Ok[OrderWithRefund],
    response_description="Refund queued",
    responses=MONEY_ERRORS,
)
async def refund_order(
    order_id: uuid.UUID,
    request: Request,
    principal: Caller,
    body: RefundCreate | None = None,
) -> JSONResponse:
    """Queue a refund (all that is left, or ``amount``); partial refunds are allowed."""
    data = body or RefundCreate()

    async def work(session: AsyncSession) -> dict[str, Any]:
        return await service.request_refund(session, principal, order_id, data, request)

    return await _idempotent(
        request,
        f"event.refund:{principal.sub}",
        {"order_id": str(order_id), **data.model_dump(mode="json")},
        202,
        work,
    )


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
