"""One error hierarchy and one envelope for every service (SPEC section 3).

Every failure leaves a service as ``{"success": false, "error", "code", "details"?,
"request_id"}``: our own ``AppError``s, FastAPI's validation errors, unknown routes and methods,
and unexpected exceptions (500 without a stack trace or SQL in the body).
"""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from tickettoken.kit.faults import DATABASE_RETRY_AFTER_SECONDS, database_unreachable, describe
from tickettoken.kit.request_context import current_request_id

log = structlog.get_logger(__name__)


class AppError(Exception):
    """An error a client may see. Subclasses fix the status and code."""

    status_code = 500
    code = "INTERNAL_ERROR"
    default_message = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = details
        self.headers = headers
        super().__init__(self.message)


class BadRequest(AppError):
    status_code, code, default_message = 400, "BAD_REQUEST", "Bad request"


class Unauthorized(AppError):
    status_code, code, default_message = 401, "UNAUTHORIZED", "Authentication required"

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class Forbidden(AppError):
    status_code, code, default_message = 403, "FORBIDDEN", "Not allowed"


class NotFound(AppError):
    status_code, code, default_message = 404, "NOT_FOUND", "Not found"


class Conflict(AppError):
    status_code, code, default_message = 409, "CONFLICT", "Conflict"


class ValidationFailed(AppError):
    status_code, code, default_message = 422, "VALIDATION_ERROR", "Validation failed"


class RateLimited(AppError):
    status_code, code, default_message = 429, "RATE_LIMITED", "Too many requests"

    def __init__(self, retry_after: int, message: str | None = None, **kwargs: Any) -> None:
        headers = dict(kwargs.pop("headers", None) or {})
        headers["Retry-After"] = str(max(1, retry_after))
        super().__init__(message, headers=headers, **kwargs)


class ServiceUnavailable(AppError):
    """A dependency (database, Redis, a provider) cannot serve the request now: always with
    ``Retry-After``, so clients back off instead of hammering a recovering server."""

    status_code, code, default_message = 503, "SERVICE_UNAVAILABLE", "Service unavailable"

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: int = DATABASE_RETRY_AFTER_SECONDS,
        **kwargs: Any,
    ) -> None:
        headers = dict(kwargs.pop("headers", None) or {})
        headers.setdefault("Retry-After", str(max(1, retry_after)))
        super().__init__(message, headers=headers, **kwargs)


class GatewayTimeout(AppError):
    status_code, code, default_message = 504, "GATEWAY_TIMEOUT", "Upstream timed out"


_CODE_BY_STATUS = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}


def error_body(
    status_code: int, message: str, code: str | None = None, details: list[Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "success": False,
        "error": message,
        "code": code or _CODE_BY_STATUS.get(status_code, "INTERNAL_ERROR"),
    }
    if details:
        body["details"] = details
    body["request_id"] = current_request_id()
    return body


def error_response(
    status_code: int,
    message: str,
    code: str | None = None,
    details: list[Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(status_code, message, code, details), status_code=status_code, headers=headers
    )


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        details.append(
            {
                "field": ".".join(loc),
                "message": err.get("msg", "invalid"),
                "type": err.get("type", "value_error"),
            }
        )
    return details


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    if exc.status_code >= 500:
        log.warning("app_error", code=exc.code, error=exc.message)
    return error_response(exc.status_code, exc.message, exc.code, exc.details, exc.headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(
        422, "Request validation failed", "VALIDATION_ERROR", _validation_details(exc)
    )


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> str:
    """Every method some route of the app serves at this path.

    Starlette answers a 405 from the first route whose path matches, so where ``GET /x`` and
    ``POST /x`` are two routes its ``Allow`` names only one of them. Asking the app's routes
    once per method keeps working whatever the routes are (mounts, included routers).
    """
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "HTTP error"
    if exc.status_code == 404 and message == "Not Found":
        message = "Route not found"
    headers = dict(exc.headers) if exc.headers else None
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": allowed_methods(request)}
    return error_response(exc.status_code, message, headers=headers)


def database_unavailable_response(request_path: str, exc: BaseException) -> JSONResponse:
    """The 503 for a request that met an unreachable database, logged as one line."""
    log.warning("database_unavailable", path=request_path, reason=describe(exc))
    error = ServiceUnavailable("Database unavailable, retry shortly")
    return error_response(error.status_code, error.message, error.code, headers=error.headers)


async def _maybe_database_fault(request: Request, exc: Exception) -> JSONResponse:
    """Connection loss is a 503; any other error of these types is a bug and stays a 500
    (re-raised to ``RequestIdMiddleware``, which logs its traceback)."""
    if database_unreachable(exc):
        return database_unavailable_response(request.url.path, exc)
    raise exc


# Exception types a lost database connection arrives as (see ``kit.faults``).
_CONNECTION_FAULT_TYPES: tuple[type[Exception], ...] = (
    sa_exc.DBAPIError,
    sa_exc.TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
)


def install_error_handlers(app: FastAPI) -> None:
    """Render our errors, validation errors and HTTP errors (unknown routes, methods) as the
    envelope, and an unreachable database as 503. Unexpected exceptions are answered by
    ``RequestIdMiddleware`` (see there)."""
    app.add_exception_handler(AppError, _app_error)
    for fault_type in _CONNECTION_FAULT_TYPES:
        app.add_exception_handler(fault_type, _maybe_database_fault)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
