"""The rules a hold is checked against before it reaches inventory, and the refusals it answers.

Shared by both ways a reservation is held (``service.reserve_tickets`` in the request's
transaction, ``batches.HoldBatcher`` for the fast path), so both answer the same.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.inventory.service import HoldOutcome
from tickettoken.events.pricing.service import quote_price
from tickettoken.events.reservations.repository import SaleContext
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


def refusal(outcome: HoldOutcome, sale: SaleContext) -> Conflict:
    """The 409 for a hold inventory refused."""
    if outcome is HoldOutcome.CUSTOMER_LIMIT:
        return Conflict(
            f"At most {MAX_TICKETS_PER_CUSTOMER_PER_EVENT} tickets per customer per event"
        )
    if outcome is HoldOutcome.NOT_PUBLISHED:
        return Conflict("The event is no longer on sale")
    sold_out = SoldOut("Not enough tickets left", details=[{"available": available(sale)}])
    sold_out.event_still_published = sale.event_status == "published"
    return sold_out


def available(sale: SaleContext) -> int:
    return max(sale.quantity - sale.sold - sale.reserved, 0)


def takes_last_seats(sale: SaleContext, quantity: int) -> bool:
    """Whether this hold may have taken the last tickets (then re-check sold-out)."""
    return available(sale) <= quantity
