"""Reservation routes: hold, read and release (confirmation lives with the orders).

Creating a reservation owns its transaction (the hold commits in the same round trip as the
hot-row update, and an ``Idempotency-Key`` response is stored in that transaction); after the
commit the event's caches are invalidated and, when the last seats may have gone, its sold-out
status is re-synced.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tickettoken.events.audit.service import audit_context
from tickettoken.events.cache import invalidate_event
from tickettoken.events.dependencies import DbSession
from tickettoken.events.reservations import service
from tickettoken.events.reservations.driver_pool import hold_batcher
from tickettoken.events.reservations.schemas import ReservationCreate, ReservationRead
from tickettoken.events.reservations.sweeper import refresh_events, sales_settings
from tickettoken.events.reservations.token_only import (
    reserve_with_token_only,
    takes_token_only_path,
)
from tickettoken.kit import idempotency
from tickettoken.kit.auth import Caller
from tickettoken.kit.contracts import AUTHENTICATED, COMMON_ERRORS, Ok, created, errors, link
from tickettoken.kit.db import Database, get_database
from tickettoken.kit.kv import KeyValueStore
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
    database = get_database(request)
    kv = request.app.state.kv
    hold_seconds = sales_settings(request.app).hold_seconds
    key = idempotency.key_from_header(request)
    batcher = hold_batcher(request.app)
    if batcher is not None and takes_token_only_path(principal, body, key):
        try:
            held = await reserve_with_token_only(
                batcher, principal, event_id, body, hold_seconds=hold_seconds, request=request
            )
        except service.SoldOut as sold_out:
            if sold_out.event_still_published:
                await refresh_events(database, kv, {event_id})
            raise
        return await _held(database, kv, event_id, held)
    async with idempotency.guard(
        database,
        scope=f"event.reservations:{principal.sub}",
        key=key,
        request_hash=idempotency.fingerprint(
            {"event_id": str(event_id), **body.model_dump(mode="json")}
        ),
    ) as call:
        if call.replay is not None:
            return JSONResponse(call.replay.body, status_code=call.replay.status)
        try:
            async with call.transaction() as session:

                async def store_response(reservation: dict[str, Any]) -> None:
                    await call.complete(session, 201, ok(service.public_view(reservation)))

                held = await service.reserve_tickets(
                    session,
                    principal,
                    event_id,
                    body,
                    hold_seconds=hold_seconds,
                    before_commit=store_response,
                    audit=audit_context(principal, request),
                )
        except service.SoldOut as sold_out:
            if sold_out.event_still_published:
                await refresh_events(database, kv, {event_id})
            raise
    return await _held(database, kv, event_id, held)


async def _held(
    database: Database, kv: KeyValueStore, event_id: uuid.UUID, held: dict[str, Any]
) -> JSONResponse:
    """After a hold committed: caches, the sold-out status if it took the last seats, the 201."""
    if held["last_seats"]:
        await refresh_events(database, kv, {event_id})
    else:
        await invalidate_event(kv, event_id)
    return JSONResponse(ok(service.public_view(held)), status_code=201)


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
    principal: Caller,
) -> dict[str, Any]:
    """Release a hold at once; its tickets go back on sale."""
    database = get_database(request)
    async with database.transaction() as session:
        released = await service.release_reservation(session, principal, reservation_id, request)
    await refresh_events(database, request.app.state.kv, {released["event_id"]})
    return ok(service.public_view(released))
