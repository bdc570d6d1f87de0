"""Schemathesis hooks for the event service's contract run (pytest and ``st run`` alike).

``positive_data_acceptance`` expects every schema-valid request to be accepted. A few rules
cannot be written in JSON Schema because they compare two fields with each other
(``end_date`` after ``start_date``, ``from`` before ``to``, ``max_price`` not below
``min_price``), a field with the clock (an event starts at least 2 hours and at most 365 days
from now) or with stored rows (an event's capacity within its venue's, a staff caller names a
customer). A 422 that names only such rules is the documented answer to a schema-valid request;
this check is ``positive_data_acceptance`` for every other answer (the run excludes the built-in
so it is not run twice).

``map_case`` moves the dates of *valid* generated events and ticket types into an order and a
window the rules accept, so the stateful phase creates events (and reaches their ticket types,
reservations and orders) instead of stopping at those rules. Cases generated to be invalid are
left as they are. In the stateful phase it also leaves out two references in bodies the chain
cannot have created (an event's new ``venue_id``, a reservation's ``customer_id``): a random id
there answers 404 (SPEC 3: existence never leaks), which ``ensure_resource_availability`` would
read as the event just created having vanished.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

RULES_ACROSS_FIELDS = (
    "end_date must be after start_date",
    "doors_open must not be after start_date",
    "sale_end must be after sale_start",
    "end must be after start",
    "max_price must not be below min_price",
    "end_date must not be before start_date",
    "from must be before to",
    "start_date must be at least 2 hours from now",
    "start_date must be within 365 days from now",
    "capacity exceeds the venue's capacity",
    "customer_id or customer is required",
    "conditions do not fit the rule type",
)


def _names_only_rules_across_fields(body: Any) -> bool:
    if not isinstance(body, dict) or body.get("code") != "VALIDATION_ERROR":
        return False
    # A rule checked by a route names itself in ``error``; one checked by the model in each
    # of the ``details`` (``error`` then only says that validation failed).
    error = str(body.get("error", ""))
    if error != "Request validation failed":
        messages = [error]
    else:
        messages = [str(d.get("message", "")) for d in body.get("details") or []]
    return bool(messages) and all(
        any(rule in message for rule in RULES_ACROSS_FIELDS) for message in messages
    )


@schemathesis.check
def positive_data_acceptance_beyond_cross_field_rules(
    ctx: Any, response: Any, case: Any
) -> bool | None:
    """``positive_data_acceptance``, except a 422 naming only rules JSON Schema cannot state."""
    if response.status_code == 422:
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        if _names_only_rules_across_fields(body):
            return None
    result: bool | None = positive_data_acceptance(ctx, response, case)
    return result


EVENT_BODIES = {("POST", "/api/v1/events"), ("PUT", "/api/v1/events/{event_id}")}
RESERVATION_BODY = ("POST", "/api/v1/events/{event_id}/reservations")
TICKET_TYPE_BODIES = {
    ("POST", "/api/v1/events/{event_id}/ticket-types"),
    ("PUT", "/api/v1/events/{event_id}/ticket-types/{type_id}"),
}


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    operation = context.operation
    meta = case.meta
    if operation is None or meta is None or not meta.generation.mode.is_positive:
        return case
    body = case.body
    if not isinstance(body, dict):
        return case
    key = (operation.method.upper(), operation.path)
    if meta.phase.name == "stateful":
        if key == ("PUT", "/api/v1/events/{event_id}"):
            body.pop("venue_id", None)
        if key == RESERVATION_BODY:
            body.pop("customer_id", None)
    if key in EVENT_BODIES and _moment(body.get("start_date")):
        start = datetime.now(UTC) + timedelta(days=2, minutes=len(str(body)) % 10_000)
        body["start_date"] = start.isoformat()
        if "end_date" in body:
            body["end_date"] = (start + timedelta(hours=2)).isoformat()
        if _moment(body.get("doors_open")):
            body["doors_open"] = (start - timedelta(hours=1)).isoformat()
    if key in TICKET_TYPE_BODIES:
        sale_start, sale_end = _moment(body.get("sale_start")), _moment(body.get("sale_end"))
        if sale_start and sale_end and sale_end <= sale_start:
            body["sale_end"] = (sale_start + timedelta(minutes=1)).isoformat()
    return case
