"""The ``box-office-sale`` job (declared in the service table's event entry): the integration
service's Square webhook job enqueues it; this takes the seats through the inventory module.

A conflict (Square sold more than the platform had left) is not a job failure: the job
completes with ``status: conflict`` (and ``available``), the sale row and the
``box_office_conflict`` audit row are committed, and ``box_office_conflict`` is logged at error
level with the numbers. The queue service turns that result into a critical alert
(``queue.alerts.box_office``, an ``OnCompleted`` callback of the service table): the event
service does not import the queue's alerts (docs/decisions/integration-webhooks.md). A ticket
type that is not the venue's fails the job for good; a database error is retried by the engine.
"""

from __future__ import annotations

from typing import Any

import structlog

from tickettoken.events.box_office.service import (
    UnknownTicketType,
    give_back_box_office_seats,
    take_box_office_sale,
)
from tickettoken.kit.jobs import JobContext, PermanentJobError
from tickettoken.kit.jobs.payloads import BoxOfficeReturn, BoxOfficeSale, read

log = structlog.get_logger(__name__)


async def process_box_office_sale(ctx: JobContext) -> dict[str, Any]:
    sale = read(BoxOfficeSale, ctx.payload)
    try:
        async with ctx.database.transaction() as session:
            result = await take_box_office_sale(session, sale)
    except UnknownTicketType as exc:
        raise PermanentJobError(f"ticket type {exc} is not the venue's") from exc
    fields = {
        "venue_id": str(sale.venue_id),
        "ticket_type_id": str(sale.ticket_type_id),
        "quantity": sale.quantity,
        "sale_key": sale.sale_key,
        "source": sale.source,
        "catalog_object_id": sale.catalog_object_id,
        "location_id": sale.location_id,
        "job_id": ctx.job_id,
    }
    if result.status == "conflict":
        log.error(
            "box_office_conflict",
            **fields,
            available=result.details["counters"]["available"],
            sold=result.details["counters"]["sold"],
            reserved=result.details["counters"]["reserved"],
            capacity=result.details["counters"]["quantity"],
        )
    else:
        log.info("box_office_sale", status=result.status, **fields)
    return {
        "status": result.status,
        "box_office_sale_id": str(result.sale_id) if result.sale_id else None,
        "ticket_type_id": str(sale.ticket_type_id),
        "quantity": sale.quantity,
        **(
            {"available": result.details["counters"]["available"]}
            if result.status == "conflict"
            else {}
        ),
    }


async def process_box_office_return(ctx: JobContext) -> dict[str, Any]:
    """The ``box-office-return`` job: seats a Square refund or cancellation put back in stock,
    returned to sale through the inventory module (``give_back_box_office_seats``). A return
    with nothing to give back (its sale was a conflict) completes ``return_unmatched`` and is
    logged at warning level."""
    ret = read(BoxOfficeReturn, ctx.payload)
    try:
        async with ctx.database.transaction() as session:
            result = await give_back_box_office_seats(session, ret)
    except UnknownTicketType as exc:
        raise PermanentJobError(f"ticket type {exc} is not the venue's") from exc
    fields = {
        "venue_id": str(ret.venue_id),
        "ticket_type_id": str(ret.ticket_type_id),
        "quantity": ret.quantity,
        "return_key": ret.return_key,
        "given_back": result.details.get("given_back"),
        "job_id": ctx.job_id,
    }
    if result.status == "return_unmatched":
        log.warning("box_office_return_unmatched", **fields)
    else:
        log.info("box_office_return", status=result.status, **fields)
    return {
        "status": result.status,
        "box_office_sale_id": str(result.sale_id) if result.sale_id else None,
        "ticket_type_id": str(ret.ticket_type_id),
        "given_back": result.details.get("given_back"),
    }
