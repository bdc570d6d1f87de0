"""Reservations: hold tickets at a locked price without ever overselling (SPEC 4.1, 4.2).

A hold is checked in this order: the event is published and the caller may buy from it (404
otherwise), the sales window is open and the quantity within ``max_per_order`` (409), the buyer is
resolved and locked (so one customer's sales run one after the other), and then inventory
(``events.inventory``) takes the quantity or refuses: the buyer over 50 tickets for the event,
sold out, or the event no longer on sale (409). Nothing is held unless all of it succeeds.

Two ways to the same hold: ``reserve_tickets`` in the request's transaction (any caller, any
buyer, ``Idempotency-Key``), and ``batches.HoldBatcher`` for the fast path (``takes_fast_path``).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.audit.service import (
    AuditContext,
    AuditRow,
    audit_context,
    record_audit,
    record_audits,
    record_customer_created,
)
from tickettoken.events.customers.service import resolve_buyer
from tickettoken.events.inventory import service as inventory
from tickettoken.events.inventory.service import HoldOutcome, NewHold
from tickettoken.events.reservations import repository
from tickettoken.events.reservations.repository import SaleContext
from tickettoken.events.reservations.rules import (
    SoldOut as SoldOut,  # the refusal the routes catch
)
from tickettoken.events.reservations.rules import (
    check_sales_window,
    ensure_may_sell,
    locked_unit_price,
    refusal,
    takes_last_seats,
)
from tickettoken.events.reservations.schemas import ReservationCreate
from tickettoken.events.reservations.settings import (
    MAX_TICKETS_PER_CUSTOMER_PER_EVENT,
    get_sales_settings,
)
from tickettoken.kit.auth import Principal, Role
from tickettoken.kit.errors import Conflict, Forbidden, NotFound

BeforeCommit = Callable[[dict[str, Any]], Awaitable[None]]


def takes_fast_path(principal: Principal, request: ReservationCreate, key: str | None) -> bool:
    """A customer buying for themselves with nothing but their token and no ``Idempotency-Key``:
    the request may go in a batch (``batches``) instead of its own transaction."""
    return (
        key is None
        and principal.role is Role.CUSTOMER
        and request.customer_id is None
        and request.customer is None
    )


async def reserve_tickets(
    session: AsyncSession,
    principal: Principal,
    event_id: uuid.UUID,
    request: ReservationCreate,
    *,
    hold_seconds: int,
    before_commit: BeforeCommit | None = None,
    audit: AuditContext | None = None,
) -> dict[str, Any]:
    """Hold tickets in the session's transaction (the owner commits; a refusal raises and the
    owner rolls back).

    ``before_commit(reservation)`` runs in the transaction just before the hold, with the
    reservation as it will be stored (e.g. to store the idempotent response with it). The
    reservation's audit row (and the buyer's, if created on the fly) go with the hold, as
    ``audit`` (the request's actor, address and id).
    """
    now = datetime.now(UTC)
    sale, customer_id = await _sale_and_buyer(session, principal, event_id, request, now)
    hold = NewHold(
        id=uuid.uuid4(),
        event_id=event_id,
        ticket_type_id=sale.ticket_type_id,
        customer_id=customer_id,
        quantity=request.quantity,
        unit_price=await locked_unit_price(session, sale, request.quantity, now),
        currency=sale.currency,
        created_at=now,
        expires_at=now + timedelta(seconds=hold_seconds),
    )
    reservation = hold.as_row()
    reservation["last_seats"] = takes_last_seats(sale, request.quantity)
    if before_commit is not None:
        await before_commit(reservation)
    context = audit or audit_context(principal)
    await record_customer_created(session, context, customer_id)
    outcome = await inventory.hold_in_session(
        session,
        [hold],
        MAX_TICKETS_PER_CUSTOMER_PER_EVENT,
        [AuditRow(context, "create", "reservation", hold.id, None, hold.as_row())],
    )
    if outcome is not HoldOutcome.HELD:
        raise refusal(outcome, sale)
    return reservation


async def _sale_and_buyer(
    session: AsyncSession,
    principal: Principal,
    event_id: uuid.UUID,
    request: ReservationCreate,
    now: datetime,
) -> tuple[SaleContext, uuid.UUID]:
    """The checked sale context and the locked buyer (one round trip for a bare customer)."""
    if principal.role is Role.CUSTOMER and request.customer_id is None and not request.customer:
        found = await repository.load_sale_context_and_user_customer(
            session, event_id, request.ticket_type_id, principal.sub
        )
        if found is None:
            raise NotFound("Ticket type not found")
        check_sales_window(found[0], request.quantity, now)
        return found
    sale = await repository.load_sale_context(session, event_id, request.ticket_type_id)
    if sale is None:
        raise NotFound("Ticket type not found")
    ensure_may_sell(principal, sale.venue_id)
    check_sales_window(sale, request.quantity, now)
    customer_id = await resolve_buyer(
        session, principal, sale.venue_id, request.customer_id, request.customer
    )
    return sale, customer_id


async def get_visible_reservation(
    session: AsyncSession, principal: Principal, reservation_id: uuid.UUID
) -> dict[str, Any]:
    """The reservation if the caller is its customer or reads its venue; 404 otherwise."""
    found = await repository.get_reservation_with_owner(session, reservation_id)
    if found is None or not _may_see(principal, found):
        raise NotFound("Reservation not found")
    return found


def _may_see(principal: Principal, found: dict[str, Any]) -> bool:
    if principal.role is Role.CUSTOMER:
        return bool(found["customer_user_id"] == principal.sub)
    return principal.can_read_venue(found["venue_id"])


async def release_reservation(
    session: AsyncSession,
    principal: Principal,
    reservation_id: uuid.UUID,
) -> dict[str, Any]:
    found = await get_visible_reservation(session, principal, reservation_id)
    if principal.role is not Role.CUSTOMER and not principal.can_manage_venue(found["venue_id"]):
        raise Forbidden("Venue staff may not release reservations")
    await inventory.lock_ticket_types(session, [found["ticket_type_id"]])
    released = await repository.mark_released(session, reservation_id)
    if released is not None:
        await inventory.return_reserved(session, {released["ticket_type_id"]: released["quantity"]})
    else:
        current = await repository.get_reservation(session, reservation_id)
        status = current["status"] if current else "gone"
        raise Conflict(f"The reservation is {status}, not held")
    before = {key: found[key] for key in released}
    await record_audit(
        session, principal, "release", "reservation", reservation_id, before, released
    )
    return released


async def release_event_holds(
    session: AsyncSession, event_id: uuid.UUID, audit: AuditContext | None = None
) -> int:
    """Release every hold of an event (its cancellation), each audited as ``audit``; the number
    of reservations released."""
    rows = await repository.release_holds_of_event(session, event_id)
    await inventory.return_reserved(session, inventory.per_ticket_type((t, q) for t, q, _ in rows))
    released = [reservation_id for _, _, reservation_id in rows]
    context = audit or audit_context()
    await record_audits(
        session,
        [
            AuditRow(
                context, "release", "reservation", reservation_id, None, {"status": "released"}
            )
            for reservation_id in released
        ],
    )
    return len(released)


async def expire_holds(session: AsyncSession, batch: int) -> repository.ExpiredHolds:
    """Expire up to ``batch`` holds and give their quantities back (the sweeper).

    Ticket types are locked first (inventory's lock order), then the holds are claimed with
    SKIP LOCKED, so instances sweeping together never release a hold twice or deadlock."""
    candidates = await repository.expired_candidates(session, batch)
    if not candidates:
        return repository.ExpiredHolds(0, 0, {}, set(), [])
    await inventory.lock_ticket_types(session, {ticket_type for _, ticket_type in candidates})
    claimed = await repository.claim_expired(
        session, [reservation for reservation, _ in candidates]
    )
    quantities = inventory.per_ticket_type((t, q) for t, q, _, _ in claimed)
    await inventory.return_reserved(session, quantities)
    return repository.ExpiredHolds(
        len(candidates),
        len(claimed),
        quantities,
        {event for _, _, event, _ in claimed},
        [reservation for _, _, _, reservation in claimed],
    )


def public_view(reservation: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of a reservation (money as strings with 2 places)."""
    return {
        "id": str(reservation["id"]),
        "event_id": str(reservation["event_id"]),
        "ticket_type_id": str(reservation["ticket_type_id"]),
        "customer_id": str(reservation["customer_id"]),
        "quantity": reservation["quantity"],
        "status": reservation["status"],
        "unit_price": str(reservation["unit_price"]),
        "total": str(reservation["total"]),
        "currency": reservation["currency"],
        "expires_at": reservation["expires_at"].isoformat(),
        "order_id": str(reservation["order_id"]) if reservation["order_id"] else None,
        "confirmed_at": _iso(reservation["confirmed_at"]),
        "released_at": _iso(reservation["released_at"]),
        "created_at": reservation["created_at"].isoformat(),
        "updated_at": reservation["updated_at"].isoformat(),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def lock_reservation(
    session: AsyncSession, reservation_id: uuid.UUID
) -> dict[str, Any] | None:
    """The reservation locked ``FOR UPDATE`` (an order confirming it), None if unknown."""
    return await repository.lock_reservation(session, reservation_id)


async def mark_confirmed(
    session: AsyncSession, reservation_id: uuid.UUID, order_id: uuid.UUID
) -> None:
    """The locked, held reservation now belongs to ``order_id`` (its tickets stay reserved until
    the payment result: ``inventory.move_reserved_to_sold``)."""
    await repository.mark_confirmed(session, reservation_id, order_id)


def payment_grace_seconds() -> int:
    """How long after its hold expires a confirmed order's payment may still arrive."""
    return get_sales_settings().payment_grace_seconds
