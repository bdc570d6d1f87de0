"""Reports (SPEC 4.1): sales by period, venue comparison, customer insights.

Scope: administrators (and services) see every venue, venue staff only theirs (a venue or event
of another venue is 404), other roles may not read reports (403).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.reports import queries
from tickettoken.kit.auth import Principal, Role
from tickettoken.kit.errors import Forbidden, NotFound, ValidationFailed

TOP_CUSTOMERS = 10


def _json(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, Decimal):
            out[key] = f"{value:.2f}"
        elif isinstance(value, datetime):
            out[key] = value.date().isoformat() if key == "period" else value.isoformat()
        elif isinstance(value, uuid.UUID):
            out[key] = str(value)
        else:
            out[key] = value
    return out


async def report_scope(
    session: AsyncSession,
    principal: Principal,
    venue_id: uuid.UUID | None,
    event_id: uuid.UUID | None,
    date_from: datetime | None,
    date_to: datetime | None,
) -> dict[str, Any]:
    """The query filters this caller may use (404 for venues or events outside their reach)."""
    if principal.role in (Role.CUSTOMER, Role.MONITORING):
        raise Forbidden("Your role may not read reports")
    if date_from and date_to and date_from >= date_to:
        raise ValidationFailed(
            "from must be before to",
            details=[{"field": "query.from", "message": "must be before to"}],
        )
    if venue_id is not None and not principal.can_read_venue(venue_id):
        raise NotFound("Venue not found")
    if event_id is not None:
        event_venue = await queries.venue_of_event(session, event_id)
        if event_venue is None or not principal.can_read_venue(event_venue):
            raise NotFound("Event not found")
    if venue_id is not None:
        venues: list[uuid.UUID] | None = [venue_id]
    elif principal.role in (Role.ADMIN, Role.SERVICE):
        venues = None
    else:
        venues = sorted(uuid.UUID(v) for v in principal.venue_ids)
    return queries.filters(venues, event_id, date_from, date_to)


async def sales_report(
    session: AsyncSession, scope: dict[str, Any], group_by: str
) -> dict[str, Any]:
    rows = await queries.sales_by_period(session, scope, group_by)
    periods = [_json(row) for row in rows if row["period"] is not None]
    totals = next((row for row in rows if row["period"] is None), None)
    empty = {"orders": 0, "tickets": 0, "gross": "0.00", "refunds": "0.00", "net": "0.00"}
    summary = _json({k: v for k, v in totals.items() if k != "period"}) if totals else empty
    return {"group_by": group_by, "periods": periods, "totals": summary}


async def venue_comparison(session: AsyncSession, scope: dict[str, Any]) -> dict[str, Any]:
    return {"venues": [_json(row) for row in await queries.venue_comparison(session, scope)]}


async def customer_insights(session: AsyncSession, scope: dict[str, Any]) -> dict[str, Any]:
    summary = await queries.customer_insights(session, scope, TOP_CUSTOMERS)
    top = [_json(row) for row in summary.pop("top_customers")]
    return {**_json(summary), "top_customers": top}
