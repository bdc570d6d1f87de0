"""Take a box-office sale from the platform's inventory, once per sale key, or record why not.

One transaction: the ticket-type row is locked first (``inventory.lock_ticket_types``, step 2 of
the lock order), which also serialises every sale of that ticket type, so the key check that
follows sees any earlier job with the same key; then ``inventory.sell_at_box_office``; then
the sale row and its audit row (step 4). A return (``give_back_box_office_seats``) is the same
path the other way, recorded in the same table under its own key.
A sale larger than what is left (``sold + reserved + quantity > quantity``) takes nothing: the
row says ``conflict`` with the counters of that moment, the audit log gets
``box_office_conflict``, and the caller logs an error. Holds are never taken back for it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.audit.service import AuditRow, record_audits, system_context
from tickettoken.events.box_office import repository
from tickettoken.events.inventory.service import (
    lock_ticket_types,
    return_from_box_office,
    sell_at_box_office,
)
from tickettoken.kit.jobs.payloads import BoxOfficeReturn, BoxOfficeSale


class UnknownTicketType(Exception):
    """The sale names a ticket type that is not (or no longer) the venue's."""


@dataclass(frozen=True)
class SaleResult:
    status: str  # applied | conflict | returned | return_unmatched | duplicate
    sale_id: uuid.UUID | None
    details: dict[str, Any]


def _details(sale: BoxOfficeSale) -> dict[str, Any]:
    return sale.model_dump(mode="json", exclude_none=True)


async def take_box_office_sale(session: AsyncSession, sale: BoxOfficeSale) -> SaleResult:
    if (
        await repository.event_of_venue_ticket_type(session, sale.venue_id, sale.ticket_type_id)
        is None
    ):
        raise UnknownTicketType(str(sale.ticket_type_id))
    await lock_ticket_types(session, [sale.ticket_type_id])
    earlier = await repository.find(session, sale.sale_key)
    if earlier is not None:
        return SaleResult("duplicate", earlier.id, {"first_outcome": earlier.status})
    outcome = await sell_at_box_office(session, sale.ticket_type_id, sale.quantity)
    if outcome is None:  # deleted between the check and the lock
        raise UnknownTicketType(str(sale.ticket_type_id))
    status = "applied" if outcome.taken else "conflict"
    counters = {
        "quantity": outcome.quantity,
        "sold": outcome.sold,
        "reserved": outcome.reserved,
        "available": outcome.available,
    }
    details = {**_details(sale), "counters": counters}
    sale_id = await repository.insert(
        session,
        key=sale.sale_key,
        venue_id=sale.venue_id,
        ticket_type_id=sale.ticket_type_id,
        quantity=sale.quantity,
        status=status,
        source=sale.source,
        details=details,
    )
    await record_audits(
        session,
        [
            AuditRow(
                system_context(f"box-office:{sale.source}"),
                "box_office_sale" if outcome.taken else "box_office_conflict",
                "ticket_type",
                sale.ticket_type_id,
                None,
                {**details, "box_office_sale_id": str(sale_id)},
            )
        ],
    )
    return SaleResult(status, sale_id, details)


async def give_back_box_office_seats(session: AsyncSession, ret: BoxOfficeReturn) -> SaleResult:
    """Return a box-office return's seats to sale, once per return key; never more than the
    venue's box-office sales of the ticket type took and no earlier return gave back (a sale that
    was a conflict took nothing, so its return gives nothing back). Same lock order as a sale."""
    if (
        await repository.event_of_venue_ticket_type(session, ret.venue_id, ret.ticket_type_id)
        is None
    ):
        raise UnknownTicketType(str(ret.ticket_type_id))
    await lock_ticket_types(session, [ret.ticket_type_id])
    earlier = await repository.find(session, ret.return_key)
    if earlier is not None:
        return SaleResult("duplicate", earlier.id, {"first_outcome": earlier.status})
    left = await repository.returnable(session, ret.venue_id, ret.ticket_type_id)
    given_back = min(ret.quantity, max(left, 0))
    outcome = None
    if given_back > 0:
        outcome = await return_from_box_office(session, ret.ticket_type_id, given_back)
        if outcome is None:
            raise UnknownTicketType(str(ret.ticket_type_id))
        if not outcome.taken:  # sold fell below what box-office sales took: give back none
            given_back = 0
    status = "returned" if given_back > 0 else "return_unmatched"
    details: dict[str, Any] = {
        **ret.model_dump(mode="json", exclude_none=True),
        "given_back": given_back,
        "not_given_back": ret.quantity - given_back,
        "returnable_before": left,
    }
    if outcome is not None:
        details["counters"] = {
            "quantity": outcome.quantity,
            "sold": outcome.sold,
            "reserved": outcome.reserved,
            "available": outcome.available,
        }
    row_id = await repository.insert(
        session,
        key=ret.return_key,
        venue_id=ret.venue_id,
        ticket_type_id=ret.ticket_type_id,
        quantity=ret.quantity,
        status=status,
        source=ret.source,
        details=details,
    )
    await record_audits(
        session,
        [
            AuditRow(
                system_context(f"box-office:{ret.source}"),
                "box_office_return" if given_back else "box_office_return_unmatched",
                "ticket_type",
                ret.ticket_type_id,
                None,
                {**details, "box_office_sale_id": str(row_id)},
            )
        ],
    )
    return SaleResult(status, row_id, details)
