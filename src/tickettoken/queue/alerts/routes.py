"""Alerts: history, acknowledgement, and a test alert through every configured channel."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from tickettoken.kit.auth import Principal
from tickettoken.kit.contracts import AUTHENTICATED, COMMON_ERRORS, Ok, Page, errors
from tickettoken.kit.db import DbSession, get_database
from tickettoken.kit.pagination import PageParams, ok, page_params, paginated
from tickettoken.queue.access import ADMIN_ONLY, OBSERVERS
from tickettoken.queue.alerts import service as alerts
from tickettoken.queue.alerts.rules import Severity
from tickettoken.queue.alerts.schemas import AlertRead, AlertSent, AlertTest

router = APIRouter(
    prefix="/api/v1/queue/alerts", tags=["alerts"], responses={**COMMON_ERRORS, **AUTHENTICATED}
)


@router.get("", summary="Alert history, newest first", response_model=Page[AlertRead])
async def list_alerts(
    acknowledged: bool | None = Query(None),
    severity: Severity | None = Query(None),
    page: PageParams = Depends(page_params),
    _: Principal = Depends(OBSERVERS),
    *,
    session: DbSession,
) -> dict[str, Any]:
    items, total = await alerts.list_alerts(
        session, acknowledged=acknowledged, severity=severity, limit=page.limit, offset=page.offset
    )
    return paginated(items, page, total)


@router.post(
    "/{alert_id}/acknowledge",
    summary="Mark an alert as seen",
    response_model=Ok[AlertRead],
    responses=errors(404, 409),
)
async def acknowledge(
    alert_id: uuid.UUID,
    principal: Principal = Depends(OBSERVERS),
    *,
    session: DbSession,
) -> dict[str, Any]:
    return ok(await alerts.acknowledge(session, alert_id, principal.sub))


@router.post(
    "/test",
    status_code=201,
    summary="Send a test alert to every channel (admin)",
    response_model=Ok[AlertSent],
    responses=errors(400),
)
async def test_alert(
    body: AlertTest, request: Request, principal: Principal = Depends(ADMIN_ONLY)
) -> JSONResponse:
    sent = await alerts.send_test(
        get_database(request),
        request.app.state.settings,
        body.severity,
        body.message,
        principal.sub,
    )
    return JSONResponse(ok(sent), status_code=201)
