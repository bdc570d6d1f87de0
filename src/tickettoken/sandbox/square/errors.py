"""Square's error shape, ``{"errors": [{"category", "code", "detail", "field"}]}``, everywhere.

Categories and codes are Square's (``AUTHENTICATION_ERROR``/``UNAUTHORIZED``,
``INVALID_REQUEST_ERROR``/``NOT_FOUND``, ``VERSION_MISMATCH``,
``RATE_LIMIT_ERROR``/``RATE_LIMITED``);
the SDK parses ``errors`` into ``ApiError.errors``, so the platform branches on them.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

AUTH = "AUTHENTICATION_ERROR"
INVALID = "INVALID_REQUEST_ERROR"
RATE = "RATE_LIMIT_ERROR"


class SquareError(Exception):
    """Raised by handlers; becomes one error response with ``status``."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        category: str = INVALID,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.errors = [error_object(category, code, detail, field)]
        self.extra = extra or {}

    def response(self) -> Response:
        return JSONResponse({**self.extra, "errors": self.errors}, status_code=self.status)


def error_object(category: str, code: str, detail: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"category": category, "code": code, "detail": detail}
    if field:
        error["field"] = field
    return error


def unauthorized(detail: str = "This request could not be authorized.") -> SquareError:
    return SquareError(401, "UNAUTHORIZED", detail, category=AUTH)


def not_found(detail: str, field: str | None = None) -> SquareError:
    return SquareError(404, "NOT_FOUND", detail, field=field)


def bad_request(code: str, detail: str, field: str | None = None) -> SquareError:
    return SquareError(400, code, detail, field=field)


def rate_limited() -> SquareError:
    return SquareError(
        429, "RATE_LIMITED", "This request was rate limited. Please retry later.", category=RATE
    )
