"""Report routes (computed in SQL, scoped to the caller's venues)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query

from tickettoken.events.dependencies import DbSession
from tickettoken.events.reports import service
from tickettoken.kit.auth import Principal, current_principal
from tickettoken.kit.pagination import ok
from tickettoken.kit.schema_types import UtcInstant

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


@router.get("/sales")
async def sales(
    session: DbSession,
    venue_id: uuid.UUID | None = Query(default=None),
    event_id: uuid.UUID | None = Query(default=None),
    date_from: UtcInstant | None = Query(default=None, alias="from"),
    date_to: UtcInstant | None = Query(default=None, alias="to"),
    group_by: Literal["day", "week", "month"] = Query(default="day"),
    principal: Principal = Depends(current_principal),
) -> dict[str, Any]:
    """Orders, tickets, gross, refunds and net per day, week or month (UTC), with totals."""
    scope = await service.report_scope(session, principal, venue_id, event_id, date_from, date_to)
    return ok(await service.sales_report(session, scope, group_by))


@router.get("/venue-comparison")
async def venue_comparison(
    session: DbSession,
    date_from: UtcInstant | None = Query(default=None, alias="from"),
    date_to: UtcInstant | None = Query(default=None, alias="to"),
    principal: Principal = Depends(current_principal),
) -> dict[str, Any]:
    """Every visible venue side by side, including venues without sales."""
    scope = await service.report_scope(session, principal, None, None, date_from, date_to)
    return ok(await service.venue_comparison(session, scope))


@router.get("/customer-insights")
async def customer_insights(
    session: DbSession,
    venue_id: uuid.UUID | None = Query(default=None),
    date_from: UtcInstant | None = Query(default=None, alias="from"),
    date_to: UtcInstant | None = Query(default=None, alias="to"),
    principal: Principal = Depends(current_principal),
) -> dict[str, Any]:
    """Customers, buyers, repeat buyers, average order and spend, top customers."""
    scope = await service.report_scope(session, principal, venue_id, None, date_from, date_to)
    return ok(await service.customer_insights(session, scope))
