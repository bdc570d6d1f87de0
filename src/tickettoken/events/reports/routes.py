"""Report routes (computed in SQL, scoped to the caller's venues)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Query

from tickettoken.events.dependencies import DbSession
from tickettoken.events.reports import service
from tickettoken.events.reports.schemas import (
    CustomerInsights,
    GroupBy,
    SalesReport,
    VenueComparison,
)
from tickettoken.kit.auth import Caller
from tickettoken.kit.contracts import AUTHENTICATED, COMMON_ERRORS, Ok, errors
from tickettoken.kit.pagination import ok
from tickettoken.kit.schema_types import UtcInstant

router = APIRouter(
    prefix="/api/v1/reports", tags=["reports"], responses={**COMMON_ERRORS, **AUTHENTICATED}
)


@router.get("/sales", response_model=Ok[SalesReport], responses=errors(404))
async def sales(
    session: DbSession,
    principal: Caller,
    venue_id: uuid.UUID | None = Query(default=None),
    event_id: uuid.UUID | None = Query(default=None),
    date_from: UtcInstant | None = Query(default=None, alias="from"),
    date_to: UtcInstant | None = Query(default=None, alias="to"),
    group_by: GroupBy = Query(default="day"),
) -> dict[str, Any]:
    """Orders, tickets, gross, refunds and net per day, week or month (UTC), with totals."""
    scope = await service.report_scope(session, principal, venue_id, event_id, date_from, date_to)
    return ok(await service.sales_report(session, scope, group_by))


@router.get("/venue-comparison", response_model=Ok[VenueComparison])
async def venue_comparison(
    session: DbSession,
    principal: Caller,
    date_from: UtcInstant | None = Query(default=None, alias="from"),
    date_to: UtcInstant | None = Query(default=None, alias="to"),
) -> dict[str, Any]:
    """Every visible venue side by side, including venues without sales."""
    scope = await service.report_scope(session, principal, None, None, date_from, date_to)
    return ok(await service.venue_comparison(session, scope))


@router.get("/customer-insights", response_model=Ok[CustomerInsights], responses=errors(404))
async def customer_insights(
    session: DbSession,
    principal: Caller,
    venue_id: uuid.UUID | None = Query(default=None),
    date_from: UtcInstant | None = Query(default=None, alias="from"),
    date_to: UtcInstant | None = Query(default=None, alias="to"),
) -> dict[str, Any]:
    """Customers, buyers, repeat buyers, average order and spend, top customers."""
    scope = await service.report_scope(session, principal, venue_id, None, date_from, date_to)
    return ok(await service.customer_insights(session, scope))
