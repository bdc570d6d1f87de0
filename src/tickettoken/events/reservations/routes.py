"""Reservation routes: hold, read and release (confirmation lives with the orders).

A reservation takes one of two ways to inventory (``service.takes_fast_path``): a customer's
bare token without ``Idempotency-Key`` joins a batch (``batches.HoldBatcher``, its own
transaction); everything else holds in the request's transaction (``service.reserve_tickets``),
where an ``Idempotency-Key`` answer is stored with it (``kit.idempotency.claim_key``). After
the commit the event's caches are invalidated and, when the last seats may have gone, its
sold-out status is re-synced.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tickettoken.events.audit.service import audit_context
from tickettoken.events.cache import invalidate_event
from tickettoken.events.dependencies import AfterCommit, DbSession, after_commit
from tickettoken.events.reservations import service
from tickettoken.events.reservations.driver_pool import hold_batcher
from tickettoken.events.reservations.schemas import ReservationCreate, ReservationRead
from tickettoken.events.reservations.sweeper import refresh_events, sales_settings
from tickettoken.kit.auth import Caller
from tickettoken.kit.contracts import AUTHENTICATED, COMMON_ERRORS, Ok, created, errors, link
from tickettoken.kit.db import get_database, request_transaction
from tickettoken.kit.idempotency import claim_key, key_from_header
from tickettoken.kit.pagination import ok

router = APIRouter(
    prefix="/api/v1",
    tags=["reservations"],
    responses={**COMMON_ERRORS, **AUTHENTICATED, **errors(404)},
)
_HOLD = "/api/v1/reservations/{reservation_id}"
_NEW = {"path.reservation_id": "$response.body#/data/id"}
HELD = created(
    201,
    "Tickets held",
    GetReservation=link(_HOLD, "GET", parameters=_NEW),
    ReleaseReservation=link(_HOLD, "DELETE", parameters=_NEW),
    ConfirmReservation=link(_HOLD + "/confirm", "POST", parameters=_NEW),
)


@router.post(
    "/events/{event_id}/reservations",
    status_code=201,
    response_model=Ok[ReservationRead],
    responses={
        **errors(
            400,
            413,
            **{"409": "Sold out, sales closed, a limit reached, or the Idempotency-Key is in use"},
        ),
        **HELD,
    },
)
async def create_reservation(
    event_id: uuid.UUID,
    body: ReservationCreate,
    request: Request,
    principal: Caller,
) -> JSONResponse:
    """Hold tickets at a locked price for the configured time (15 minutes by default).

    Accepts ``Idempotency-Key``: a repeat with the same body answers the first response.
    """
    # The flash sale's hot route: it opens the request's transaction itself, and only when the
    # fast path does not take the request (``RequestTx`` and ``idempotent`` as dependencies cost
    # about a fifth of its throughput, bench/RESULTS.md "Issue 8").
    hold_seconds = sales_settings(request.app).hold_seconds
    audit = audit_context(principal)
    batcher = hold_batcher(request.app)
    key = key_from_header(request)
    if batcher is not None and service.takes_fast_path(principal, body, key):
        try:  # its own transaction, committed when this returns; no request session begun
            held = await batcher.reserve(principal.sub, event_id, body, hold_seconds, audit)
        except service.SoldOut as sold_out:
            await _sold_out(request, event_id, sold_out)
            raise
        await _after_hold(request, event_id, last_seats=held["last_seats"])()
        return JSONResponse(ok(service.public_view(held)), status_code=201)
    async with request_transaction(get_database(request)) as transaction:
        idem = await claim_key(request, transaction, principal, "event.reservations")
        if idem.replay is not None:
            return idem.replayed()
        session = await transaction.session()

        async def store_answer(reservation: dict[str, Any]) -> None:
            await idem.store(201, ok(service.public_view(reservation)))

        try:
            held = await service.reserve_tickets(
                session,
                principal,
                event_id,
                body,
                hold_seconds=hold_seconds,
                before_commit=store_answer,
                audit=audit,
            )
        except service.SoldOut as sold_out:
            await session.rollback()  # our locks go before the sold-out re-sync takes its own
            await _sold_out(request, event_id, sold_out)
            raise
        after_commit(session, _after_hold(request, event_id, last_seats=held["last_seats"]))
    return JSONResponse(ok(service.public_view(held)), status_code=201)


async def _sold_out(request: Request, event_id: uuid.UUID, sold_out: service.SoldOut) -> None:
    """A sold-out refusal: the event may have to be marked sold out (once it is, skipped)."""
    if sold_out.event_still_published:
        await refresh_events(get_database(request), request.app.state.kv, {event_id})


def _after_hold(request: Request, event_id: uuid.UUID, *, last_seats: bool) -> AfterCommit:
    """Once the hold committed: the event's caches, and its sold-out status if the hold may
    have taken the last seats."""
    database, kv = get_database(request), request.app.state.kv

    async def refresh() -> None:
        if last_seats:
            await refresh_events(database, kv, {event_id})
        else:
            await invalidate_event(kv, event_id)

    return refresh


@router.get("/reservations/{reservation_id}", response_model=Ok[ReservationRead])
async def get_reservation(
    reservation_id: uuid.UUID,
    session: DbSession,
    principal: Caller,
) -> dict[str, Any]:
    found = await service.get_visible_reservation(session, principal, reservation_id)
    return ok(service.public_view(found))


@router.delete(
    "/reservations/{reservation_id}", response_model=Ok[ReservationRead], responses=errors(409)
)
async def release_reservation(
    reservation_id: uuid.UUID,
    request: Request,
    session: DbSession,
    principal: Caller,
) -> dict[str, Any]:
    """Release a hold at once; its tickets go back on sale."""
    released = await service.release_reservation(session, principal, reservation_id)
    database, kv = get_database(request), request.app.state.kv

    async def refresh() -> None:
        await refresh_events(database, kv, {released["event_id"]})

    after_commit(session, refresh)
    return ok(service.public_view(released))
