"""Reservations: hold tickets at a locked price without ever overselling (SPEC 4.1, 4.2).

A hold is checked in this order: the event is published and the caller may buy from it (404
otherwise), the sales window is open and the quantity within ``max_per_order`` (409), the buyer is
resolved and locked (so one customer's sales run one after the other), the buyer's tickets for
the event stay within 50 (409), and finally one conditional statement takes the quantity from the
ticket type or answers that it is sold out (409). Nothing is held unless all of it succeeds.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.audit.service import (
    AuditContext,
    AuditRow,
    audit_context,
    audit_rows_sql,
    customer_created_sql,
    record_audit,
    record_audits,
)
from tickettoken.events.customers.service import resolve_buyer
from tickettoken.events.pricing.service import quote_price
from tickettoken.events.reservations import holds, repository
from tickettoken.events.reservations.repository import SaleContext
from tickettoken.events.reservations.schemas import ReservationCreate
from tickettoken.events.reservations.settings import (
    MAX_TICKETS_PER_CUSTOMER_PER_EVENT,
    MAX_TICKETS_PER_ORDER,
    SALES_CLOSE_BEFORE_START_SECONDS,
)
from tickettoken.events.ticket_types.models import TicketType
from tickettoken.kit.auth import Principal, Role
from tickettoken.kit.errors import Conflict, Forbidden, NotFound
from tickettoken.kit.money import to_money

ON_SALE = ("published",)
BUYER_ROLES = frozenset({Role.CUSTOMER, Role.VENUE_ADMIN, Role.ADMIN, Role.SERVICE})


def ensure_may_sell(principal: Principal, venue_id: uuid.UUID) -> None:
    """Customers buy for themselves anywhere; staff sell only at venues they manage."""
    if principal.role not in BUYER_ROLES and principal.role is not Role.VENUE_STAFF:
        raise Forbidden("Your role may not reserve tickets")
    if principal.role is Role.CUSTOMER:
        return
    if not principal.can_read_venue(venue_id):
        raise NotFound("Event not found")
    if not principal.can_manage_venue(venue_id):
        raise Forbidden("Venue staff may not sell tickets")


def check_sales_window(sale: SaleContext, quantity: int, now: datetime) -> None:
    if sale.event_status == "sold_out":
        raise Conflict("The event is sold out")
    if sale.event_status not in ON_SALE:
        raise Conflict(f"The event is {sale.event_status}; only published events sell tickets")
    if sale.sale_start is not None and now < sale.sale_start:
        raise Conflict("Sales for this ticket type have not started")
    if sale.sale_end is not None and now >= sale.sale_end:
        raise Conflict("Sales for this ticket type have ended")
    if sale.sale_end is None and now >= sale.event_start - timedelta(
        seconds=SALES_CLOSE_BEFORE_START_SECONDS
    ):
        raise Conflict("Sales close 30 minutes before the event starts")
    limit = min(sale.max_per_order, MAX_TICKETS_PER_ORDER)
    if quantity > limit:
        raise Conflict(f"At most {limit} tickets of this type per order")


async def locked_unit_price(
    session: AsyncSession | None, sale: SaleContext, quantity: int, now: datetime
) -> Decimal:
    """The price ``/pricing`` shows: base price unless active rules change it (``quote_price``)."""
    if not sale.has_pricing_rules:
        return to_money(sale.price)
    if session is None:
        raise ValueError("pricing rules need a session")
    ticket_type = TicketType(
        id=sale.ticket_type_id,
        event_id=sale.event_id,
        price=sale.price,
        currency=sale.currency,
        quantity=sale.quantity,
        sold=sale.sold,
        reserved=sale.reserved,
    )
    return (await quote_price(session, ticket_type, quantity, now)).unit_price


class SoldOut(Conflict):
    """Fewer tickets left than asked for. ``event_still_published``: the event may now have to
    be marked sold out (once it is, further refusals skip that check)."""

    event_still_published = False


BeforeCommit = Callable[[dict[str, Any]], Awaitable[None]]


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
    """Hold tickets and commit the session's transaction (see ``hold_tickets_and_commit``).

    ``before_commit(reservation)`` runs in the transaction just before the hold, with the
    reservation as it will be stored (e.g. to store the idempotent response with it). The
    reservation's audit row (and the buyer's, if created on the fly) go with the hold, as
    ``audit`` (the request's actor, address and id; ``audit_context(principal, None)`` if not
    given).
    """
    now = datetime.now(UTC)
    sale, customer_id = await _sale_and_buyer(session, principal, event_id, request, now)
    hold = holds.NewHold(
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
    context = audit or audit_context(principal, None)
    audit_sql = hold_audit_sql(context, hold, new_customer=True)
    try:
        await holds.hold_tickets_and_commit(
            session, hold, MAX_TICKETS_PER_CUSTOMER_PER_EVENT, audit_sql
        )
    except holds.HoldRefused as refused:
        raise refusal(refused.reason, sale) from refused
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


def hold_audit_sql(context: AuditContext, hold: holds.NewHold, *, new_customer: bool) -> str:
    """The audit statements of a hold: the reservation's row, and (``new_customer``) the
    buyer's customer row if the hold's transaction created it."""
    created = customer_created_sql(context, hold.customer_id) if new_customer else ""
    return created + audit_rows_sql(
        [AuditRow(context, "create", "reservation", hold.id, None, hold.as_row())]
    )


def refusal(reason: str, sale: SaleContext) -> Conflict:
    if reason == "customer_limit":
        return Conflict(
            f"At most {MAX_TICKETS_PER_CUSTOMER_PER_EVENT} tickets per customer per event"
        )
    if reason == "not_published":
        return Conflict("The event is no longer on sale")
    sold_out = SoldOut("Not enough tickets left", details=[{"available": _available(sale)}])
    sold_out.event_still_published = sale.event_status == "published"
    return sold_out


def takes_last_seats(sale: SaleContext, quantity: int) -> bool:
    """Whether this hold may have taken the last tickets (then re-check sold-out)."""
    return _available(sale) <= quantity


def _available(sale: SaleContext) -> int:
    return max(sale.quantity - sale.sold - sale.reserved, 0)


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
    request: Request | None = None,
) -> dict[str, Any]:
    found = await get_visible_reservation(session, principal, reservation_id)
    if principal.role is not Role.CUSTOMER and not principal.can_manage_venue(found["venue_id"]):
        raise Forbidden("Venue staff may not release reservations")
    released = await repository.release_hold(session, reservation_id)
    if released is None:
        current = await repository.get_reservation(session, reservation_id)
        status = current["status"] if current else "gone"
        raise Conflict(f"The reservation is {status}, not held")
    before = {key: found[key] for key in released}
    await record_audit(
        session, principal, "release", "reservation", reservation_id, before, released, request
    )
    return released


async def release_event_holds(
    session: AsyncSession, event_id: uuid.UUID, audit: AuditContext | None = None
) -> int:
    """Release every hold of an event (its cancellation), each audited as ``audit``; the number
    of reservations released."""
    released = await repository.release_holds_of_event(session, event_id)
    context = audit or audit_context(None, None)
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
