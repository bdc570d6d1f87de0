"""Schemathesis against the event service's OpenAPI, in-process (ASGI), as an admin, on a real
database with real rows: no input may produce a 5xx.

Path parameters are drawn half of the time from rows that exist (a venue, an event, a ticket
type, a pricing rule), so generated requests reach the services and the database instead of
stopping at 404. The run is bounded (``EXAMPLES`` per operation) to stay near a minute.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.openapi import from_asgi

from tickettoken.events.app import create_app
from tickettoken.kit.auth import mint_token
from tickettoken.kit.settings import Settings

EXAMPLES = 40


def _create(
    schema: Any, path: str, body: dict[str, Any], headers: dict[str, str], **params: str
) -> dict[str, Any]:
    case = schema[path]["POST"].Case(path_parameters=params or None, body=body)
    response = case.call(headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()["data"]
    return created


def _real_rows(schema: Any, headers: dict[str, str]) -> dict[str, str]:
    venue = _create(schema, "/api/v1/venues", {"name": "Fuzz hall", "capacity": 5000}, headers)
    start = datetime.now(UTC) + timedelta(days=30)
    event = _create(
        schema,
        "/api/v1/events",
        {
            "venue_id": venue["id"],
            "name": f"Fuzz {uuid.uuid4().hex[:8]}",
            "start_date": start.isoformat(),
            "end_date": (start + timedelta(hours=2)).isoformat(),
            "capacity": 1000,
        },
        headers,
    )
    ticket_type = _create(
        schema,
        "/api/v1/events/{event_id}/ticket-types",
        {"name": "GA", "price": "25.00", "quantity": 100},
        headers,
        event_id=event["id"],
    )
    rule = _create(
        schema,
        "/api/v1/events/{event_id}/pricing-rules",
        {
            "ticket_type_id": ticket_type["id"],
            "rule_type": "group",
            "conditions": {"min_quantity": 3},
            "adjustment": {"type": "percentage", "value": "-5"},
        },
        headers,
        event_id=event["id"],
    )
    return {
        "venue_id": venue["id"],
        "event_id": event["id"],
        "type_id": ticket_type["id"],
        "rule_id": rule["id"],
    }


def _fuzz(
    operation: Any, headers: dict[str, str], rows: dict[str, str], failures: list[str]
) -> None:
    """Run ``EXAMPLES`` generated requests against one operation, collecting any 5xx."""

    @given(case=operation.as_strategy(), use_real=st.booleans())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def exercise(case: schemathesis.Case, use_real: bool) -> None:
        if use_real and case.path_parameters:
            for name in case.path_parameters:
                if name in rows:
                    case.path_parameters[name] = rows[name]
        response = case.call(headers=headers)
        if response.status_code >= 500:
            failures.append(f"{operation.label}: {response.status_code} {response.text[:300]}")

    exercise()


def test_no_generated_request_causes_a_server_error(event_settings: Settings) -> None:
    app = create_app(event_settings)
    schema = from_asgi("/openapi.json", app)
    headers = {"Authorization": "Bearer " + mint_token(role="admin", settings=event_settings)}
    rows = _real_rows(schema, headers)
    failures: list[str] = []
    for result in schema.get_all_operations():
        _fuzz(result.ok(), headers, rows, failures)
    assert not failures, "\n".join(failures[:20])
