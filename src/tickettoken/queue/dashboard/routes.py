"""The dashboard page and its sign-in (cookie session; see ``tickettoken.queue.access``).

``GET /api/v1/queue/dashboard`` answers the page to anyone: without a valid session the page
shows only its sign-in form and no data (all data comes from the API, which checks the session).
``POST /api/v1/queue/dashboard/session`` with ``Authorization: Bearer <admin|monitoring token>``
sets the session cookies; ``DELETE`` signs out and revokes the session on every instance.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from tickettoken.kit.auth import Caller, Principal
from tickettoken.kit.contracts import AUTHENTICATED, COMMON_ERRORS, Ok, errors
from tickettoken.kit.pagination import ok
from tickettoken.queue import access
from tickettoken.queue.dashboard.schemas import DashboardSession, DashboardUser, SignedOut

router = APIRouter(prefix="/api/v1/queue/dashboard", tags=["dashboard"])


class JavaScriptResponse(Response):
    media_type = "text/javascript"


_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _asset(name: str) -> str:
    return resources.files("tickettoken.queue.dashboard").joinpath(name).read_text()


@router.get("", response_class=HTMLResponse, summary="The dashboard page (admin or monitoring)")
async def page() -> HTMLResponse:
    return HTMLResponse(_asset("page.html"), headers=_PAGE_HEADERS)


@router.get("/app.js", summary="The dashboard's script (static)", response_class=JavaScriptResponse)
async def script() -> JavaScriptResponse:
    return JavaScriptResponse(
        _asset("app.js"),
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


@router.post(
    "/session",
    summary="Sign in to the dashboard with a bearer token (sets cookies)",
    response_model=Ok[DashboardSession],
    responses={**COMMON_ERRORS, **errors(401, **{"403": "Not an admin or monitoring token"})},
)
async def sign_in(request: Request, response: Response, principal: Caller) -> dict[str, Any]:
    settings = request.app.state.settings
    expires = access.start_session(
        response, principal, access.bearer_expiry(request, settings), settings
    )
    response.headers["Cache-Control"] = "no-store"
    return ok({"role": principal.role.value, "sub": principal.sub, "expires_at": expires})


@router.get(
    "/session",
    summary="Who the dashboard session belongs to",
    response_model=Ok[DashboardUser],
    responses={**COMMON_ERRORS, **AUTHENTICATED},
)
async def whoami(principal: Principal = Depends(access.OBSERVERS)) -> dict[str, Any]:
    return ok({"role": principal.role.value, "sub": principal.sub})


@router.delete(
    "/session",
    summary="Sign out of the dashboard (revokes the session)",
    response_model=Ok[SignedOut],
    responses=COMMON_ERRORS,
)
async def sign_out(request: Request, response: Response) -> dict[str, Any]:
    await access.end_session(request, response)
    return ok({"signed_out": True})
