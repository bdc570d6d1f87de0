"""The typed contract of every JSON route (SPEC section 3): the success envelopes ``Ok[T]`` and
``Page[T]``, the error envelope, and the error answers a route declares.

A route names its body as ``response_model=Ok[VenueRead]`` (or ``Page[...]``) and lists the
failures it can answer with ``responses=errors(404, 409)``; the OpenAPI then says exactly what a
client receives, which is what schemathesis checks against every answer.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Ok(BaseModel, Generic[T]):
    """A single result: ``{"success": true, "data": ...}``."""

    success: Literal[True] = True
    data: T


class Pagination(BaseModel):
    page: int = Field(ge=1)
    limit: int = Field(ge=1)
    total: int = Field(ge=0)
    total_pages: int = Field(ge=0)


class Page(BaseModel, Generic[T]):
    """A page of results: ``{"success": true, "data": [...], "pagination": {...}}``."""

    success: Literal[True] = True
    data: list[T]
    pagination: Pagination


class ErrorDetail(BaseModel):
    """One problem with the request, against the field the caller has to fix."""

    model_config = ConfigDict(extra="allow")

    field: str | None = None
    message: str
    type: str | None = None


class ErrorBody(BaseModel):
    """Every failure: ``{"success": false, "error", "code", "details"?, "request_id"}``."""

    success: Literal[False] = False
    error: str
    code: str
    details: list[ErrorDetail] | None = None
    request_id: str | None = None


_DESCRIPTIONS = {
    400: "Bad request",
    401: "Missing, malformed or expired bearer token",
    403: "The caller's role may not do this",
    404: "Not found, or not visible to the caller",
    405: "Method not allowed",
    409: "Conflict with the resource's current state",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "The request failed validation; details name each field",
    429: "Too many requests; retry after Retry-After seconds",
    502: "A provider answered with an error",
    503: "A dependency is unavailable; retry after Retry-After seconds",
    504: "A dependency timed out",
}

# Answers any route of a service can give, whatever it does: a body that fails validation, an
# unreachable database. Routers add these to every operation (``COMMON_ERRORS``).
COMMON_STATUSES = (422, 503)


def errors(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for error answers, each the error envelope.

    ``errors(401, 404)`` uses the standard descriptions; ``errors(**{"409": "Sold out"})``
    gives a route's own wording for a status.
    """
    answers: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        answers[status] = {"model": ErrorBody, "description": _DESCRIPTIONS.get(status, "Error")}
    for status_text, description in described.items():
        answers[int(status_text)] = {"model": ErrorBody, "description": description}
    return answers


COMMON_ERRORS = errors(*COMMON_STATUSES)
AUTHENTICATED = errors(401, 403)
"""What a route behind a bearer token can answer besides its own failures."""


def document_bearer_auth(app: FastAPI) -> None:
    """Declare the bearer token in the OpenAPI of every operation that documents a 401 (routers
    behind the token add ``AUTHENTICATED``).

    Done on the generated document rather than with a ``Security`` dependency, which would add
    a call to every request of the hot paths for what is only documentation.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        secured = [
            operation
            for operations in schema.get("paths", {}).values()
            for operation in operations.values()
            if "401" in operation.get("responses", {})
        ]
        if secured:
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            schemes["bearer"] = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        for operation in secured:
            operation["security"] = [{"bearer": []}]
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                _errors_as_json(operation)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _errors_as_json(operation: dict[str, Any]) -> None:
    """Error answers are the JSON envelope whatever the route's own media type: FastAPI
    documents a route's extra responses under its ``response_class`` (text/plain for the
    Prometheus page), which would promise a 401 in plain text."""
    for status, response in operation.get("responses", {}).items():
        content = response.get("content")
        if (
            not status.isdigit()
            or int(status) < 400
            or not content
            or "application/json" in content
        ):
            continue
        response["content"] = {"application/json": next(iter(content.values()))}


def link(
    path: str,
    method: str,
    *,
    parameters: dict[str, str] | None = None,
    body: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An OpenAPI link to the operation at ``method path``: what a client (and schemathesis'
    stateful phase) can call next with values from this answer, e.g.
    ``link("/api/v1/events/{event_id}", "GET", parameters={"path.event_id": ...})``.
    """
    pointer = path.replace("~", "~0").replace("/", "~1")
    target: dict[str, Any] = {"operationRef": f"#/paths/{pointer}/{method.lower()}"}
    if parameters:
        target["parameters"] = parameters
    if body:
        target["requestBody"] = body
    return target


def created(status: int, description: str, **links: dict[str, Any]) -> dict[int | str, Any]:
    """The ``responses`` entry of a success answer with the links it offers."""
    return {status: {"description": description, "links": links}}
