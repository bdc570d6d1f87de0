"""Who may call which queue route, and the dashboard's cookie session.

API clients send ``Authorization: Bearer <jwt>``. A browser cannot add that header when it
navigates to the dashboard, so the dashboard signs in once: its login form POSTs the bearer token
to ``/api/v1/queue/dashboard/session``, which answers with two cookies scoped to
``/api/v1/queue``:

- ``tt_queue_session``: HttpOnly, SameSite=Strict, Secure outside development; a JWT signed with
  the platform secret for a *different audience* (``<aud>:queue-dashboard``), so it is useless as
  a bearer token anywhere else; lifetime 15 minutes, never longer than the token it came from.
- ``tt_queue_csrf``: readable by the page's script; its value is also a claim of the session.
  Every state-changing request made with the session cookie must echo it in ``X-CSRF-Token``
  (double submit), so another site cannot make the browser retry or requeue jobs.
- Each session has an id (claim ``sid``). Signing out records it as revoked until the session
  would have expired (``dashboard.revocations``, in PostgreSQL), and every instance refuses the
  cookie from then on: a copy of the cookie is worthless after sign-out.

The token never appears in a URL (no ``?token=``: URLs end up in logs and browser history).
Roles: see ``Access`` below and the module docstring of ``routes``.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import jwt
from fastapi import Request, Response

from tickettoken.kit.auth import (
    Authenticator,
    Principal,
    Role,
    current_principal,
    jwt_secret,
    principal_from_claims,
    require_roles,
)
from tickettoken.kit.errors import Forbidden, Unauthorized
from tickettoken.kit.settings import Environment, Settings
from tickettoken.queue.dashboard import revocations

SESSION_COOKIE = "tt_queue_session"
CSRF_COOKIE = "tt_queue_csrf"
CSRF_HEADER = "X-CSRF-Token"
COOKIE_PATH = "/api/v1/queue"
SESSION_SECONDS = 15 * 60
DASHBOARD_ROLES = frozenset({Role.ADMIN, Role.MONITORING})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _audience(settings: Settings) -> str:
    return f"{settings.jwt_audience}:queue-dashboard"


def start_session(
    response: Response, principal: Principal, token_exp: int, settings: Settings
) -> int:
    """Set the session and CSRF cookies for a dashboard user; returns the expiry (epoch)."""
    if principal.role not in DASHBOARD_ROLES:
        raise Forbidden("The dashboard is for the admin and monitoring roles")
    now = int(time.time())
    expires = min(now + SESSION_SECONDS, token_exp)
    csrf = secrets.token_urlsafe(24)
    claims = {
        "sub": principal.sub,
        "role": principal.role.value,
        "iss": settings.jwt_issuer,
        "aud": _audience(settings),
        "iat": now,
        "exp": expires,
        "csrf": csrf,
        "sid": secrets.token_urlsafe(18),
    }
    session = jwt.encode(claims, jwt_secret(settings), algorithm=settings.jwt_algorithm)
    secure = settings.environment is not Environment.DEVELOPMENT
    max_age = max(expires - now, 1)
    common: dict[str, Any] = {
        "max_age": max_age,
        "path": COOKIE_PATH,
        "secure": secure,
        "samesite": "strict",
    }
    response.set_cookie(SESSION_COOKIE, session, httponly=True, **common)
    response.set_cookie(CSRF_COOKIE, csrf, httponly=False, **common)
    return expires


async def end_session(request: Request, response: Response) -> None:
    """Revoke the request's session (if it still is one) and delete the cookies."""
    settings: Settings = request.app.state.settings
    try:
        claims = _session_claims(request, settings)
    except Unauthorized:
        claims = None  # expired or forged: nothing left to revoke
    if claims is not None:
        await revocations.revoke_session(
            request.app.state.database, str(claims["sid"]), int(claims["exp"])
        )
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    response.delete_cookie(CSRF_COOKIE, path=COOKIE_PATH)


def bearer_expiry(request: Request, settings: Settings) -> int:
    """The ``exp`` of the request's (already verified) bearer token."""
    header = request.headers.get("authorization", "")
    token = header.partition(" ")[2].strip()
    claims = jwt.decode(
        token,
        jwt_secret(settings),
        algorithms=[settings.jwt_algorithm],
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    return int(claims["exp"])


def _session_claims(request: Request, settings: Settings) -> dict[str, Any] | None:
    """The verified claims of the session cookie, None without one; 401 when invalid."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        claims: dict[str, Any] = jwt.decode(
            cookie,
            jwt_secret(settings),
            algorithms=[settings.jwt_algorithm],
            issuer=settings.jwt_issuer,
            audience=_audience(settings),
            options={"require": ["exp", "iss", "aud", "csrf", "sid"]},
        )
    except jwt.PyJWTError as exc:
        raise Unauthorized("Dashboard session expired; sign in again") from exc
    return claims


async def _session_principal(request: Request, settings: Settings) -> Principal | None:
    claims = _session_claims(request, settings)
    if claims is None:
        return None
    if await revocations.is_revoked(request.app.state.database, str(claims["sid"])):
        raise Unauthorized("Dashboard session ended; sign in again")
    if request.method not in _SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not secrets.compare_digest(sent, str(claims["csrf"])):
            raise Forbidden("Missing or wrong X-CSRF-Token")
    return principal_from_claims(claims)


async def queue_principal(request: Request) -> Principal:
    """The caller: a bearer token, else the dashboard session cookie; 401 without either."""
    if request.headers.get("authorization") is not None:
        return await current_principal(request)
    settings: Settings = request.app.state.settings
    principal = await _session_principal(request, settings)
    if principal is None:
        raise Unauthorized()
    return principal


def allow(*roles: Role) -> Authenticator:
    """Dependency: the caller (token or dashboard session) holds one of ``roles``, else 403."""
    return require_roles(*roles, authenticate=queue_principal)


# Route groups (admin is always included).
ADMIN_ONLY = allow()
OBSERVERS = allow(Role.MONITORING)
JOB_WRITERS = allow(Role.SERVICE, Role.VENUE_ADMIN)
JOB_READERS = allow(Role.SERVICE, Role.MONITORING, Role.VENUE_ADMIN)
JOB_OPERATORS = allow(Role.SERVICE)
QUEUE_READERS = allow(Role.SERVICE, Role.MONITORING)
