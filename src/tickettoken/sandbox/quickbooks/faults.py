"""QuickBooks Online's error bodies and clock, shared by the emulator's modules.

The Accounting API answers failures with ``{"Fault": {"Error": [{"Message", "Detail", "code",
"element"}], "type": ...}, "time": ...}``; ``python-quickbooks`` and Intuit's SDKs map ``code``
to exception classes (``610`` not found, ``2xxx``-``4xxx`` validation, ``5010`` stale object,
``6240`` duplicate name), so the codes are Intuit's. The gateway's 401 uses a lower-case
``fault``/``error`` body with code ``3200``, and throttling is ``429`` with a ``SERVICE`` fault,
code ``3001``, ``message=ThrottleExceeded; errorCode=003001; statusCode=429`` (Intuit has been
seen sending that one as XML whatever the ``Accept``; the sandbox answers JSON, so clients
should decide on the status code, not on parsing the body).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from starlette.responses import JSONResponse, Response

# QuickBooks reports times in the company's zone; the sandbox's companies are on Pacific time.
COMPANY_ZONE = timezone(timedelta(hours=-8))


def qbo_time(moment: datetime | None = None, *, millis: bool = False) -> str:
    at = (moment or datetime.now(COMPANY_ZONE)).astimezone(COMPANY_ZONE)
    text = at.strftime("%Y-%m-%dT%H:%M:%S")
    if millis:
        text += f".{at.microsecond // 1000:03d}"
    return text + "-08:00"


def parse_qbo_time(value: str) -> datetime:
    """A QuickBooks timestamp or date (a date means midnight in the company's zone)."""
    text = value.strip().replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=COMPANY_ZONE)


class QboFault(Exception):
    """One Fault answer; ``kind`` is ``ValidationFault``, ``SystemFault``, ``ThrottleExceeded``."""

    def __init__(
        self,
        code: str,
        message: str,
        detail: str,
        *,
        kind: str = "ValidationFault",
        status: int = 400,
        element: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.code, self.message, self.detail = code, message, detail
        self.kind, self.status, self.element = kind, status, element

    def fault(self) -> dict[str, Any]:
        error: dict[str, Any] = {"Message": self.message, "Detail": self.detail, "code": self.code}
        if self.element:
            error["element"] = self.element
        return {"Error": [error], "type": self.kind}

    def response(self) -> Response:
        body = {"Fault": self.fault(), "time": qbo_time(millis=True)}
        headers = {"Retry-After": "1"} if self.status == 429 else None
        return JSONResponse(body, status_code=self.status, headers=headers)


def required(name: str) -> QboFault:
    return QboFault(
        "2020",
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {name} is missing in the request",
        element=name,
    )


def not_found(entity: str, object_id: str) -> QboFault:
    return QboFault(
        "610",
        "Object Not Found",
        "Object Not Found : Something you're trying to use has been made inactive."
        f" Check the fields with accounts, customers, items, vendors or employees. ({entity}"
        f" {object_id})",
    )


def invalid_reference(name: str, value: Any) -> QboFault:
    return QboFault(
        "2500",
        "Invalid Reference Id",
        f"Invalid Reference Id : {name} assigned is not valid: {value}",
        element=name,
    )


def stale(entity: str) -> QboFault:
    return QboFault(
        "5010",
        "Stale Object Error",
        f"Stale Object Error : You and another user were working on the same {entity} at the same"
        " time. The other user finished first, so your work was not saved.",
    )


def duplicate_name(existing_id: str) -> QboFault:
    return QboFault(
        "6240",
        "Duplicate Name Exists Error",
        f"The name supplied already exists. : Id={existing_id}",
    )


def throttled() -> QboFault:
    return QboFault(
        "3001",
        "message=ThrottleExceeded; errorCode=003001; statusCode=429",
        "The request limit was reached.  Try again later",
        kind="SERVICE",
        status=429,
    )


def _gateway_fault(status: int, kind: str, message: str, code: str, detail: str) -> Response:
    """The gateway's own faults (authentication, authorization) use lower-case keys."""
    error = {"message": message, "detail": detail, "code": code}
    body = {"fault": {"error": [error], "type": kind}, "time": qbo_time(millis=True)}
    return JSONResponse(body, status_code=status)


def unauthorized(detail: str) -> Response:
    return _gateway_fault(
        401,
        "AUTHENTICATION",
        "message=AuthenticationFailed; errorCode=003200; statusCode=401",
        "3200",
        detail,
    )


def forbidden() -> Response:
    """A valid token used on a company that did not grant it."""
    return _gateway_fault(
        403,
        "AUTHORIZATION",
        "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
        "3100",
        "The token is not authorized for this company.",
    )


def oauth_error(error: str, status: int = 400, description: str | None = None) -> Response:
    body = {"error": error}
    if description:
        body["error_description"] = description
    return JSONResponse(body, status_code=status)
