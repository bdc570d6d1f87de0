"""Schemathesis hooks for the event service's contract run (pytest and ``st run`` alike).

``positive_data_acceptance`` expects every schema-valid request to be accepted. A few rules
cannot be written in JSON Schema because they compare two fields with each other
(``end_date`` after ``start_date``, ``from`` before ``to``, ``max_price`` not below
``min_price``), a field with the clock (an event starts at least 2 hours and at most 365 days
from now) or with stored rows (an event's capacity within its venue's, a staff caller names a
customer). A 422 that names only such rules is the documented answer to a schema-valid request;
this check is ``positive_data_acceptance`` for every other answer. The built-in is turned off in
``schemathesis.toml`` so it is not run twice.
"""

from __future__ import annotations

import json
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
