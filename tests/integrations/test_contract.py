"""Generated requests against the connection routes (schemathesis, in-process, real database and
sandbox): no server error, and every answer matches the status codes and schemas the OpenAPI
declares. Path parameters are valid providers half of the time by construction (the enum), the
venue is the caller's own, with an API-key connection, half of the time, so requests get past 404
into the provider calls and the vault."""

from __future__ import annotations

import uuid
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.openapi import from_asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests.integrations.helpers import Sandbox

from tickettoken.kit.auth import mint_token
from tickettoken.kit.settings import Settings

EXAMPLES = 12
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


def test_generated_requests_meet_the_contract(
    integration_settings: Settings, sandbox: Sandbox
) -> None:
    from tickettoken.integrations.app import create_app

    schema = from_asgi("/openapi.json", create_app(integration_settings))
    venue = str(uuid.uuid4())
    token = mint_token(role="venue_admin", venue_ids=[venue], settings=integration_settings)
    headers = {"Authorization": f"Bearer {token}"}
    key = sandbox.index["mailchimp"]["api_key"]
    connect = schema["/api/v1/integrations/{provider}/api-key"]["POST"].Case(
        path_parameters={"provider": "mailchimp"}, body={"venue_id": venue, "api_key": key}
    )
    connected = connect.call(headers=headers)
    assert connected.status_code == 200, connected.text
    failures: list[str] = []
    for result in schema.get_all_operations():
        _fuzz(result.ok(), headers, venue, failures)
    assert not failures, "\n".join(failures[:20])


def _fuzz(operation: Any, headers: dict[str, str], venue: str, failures: list[str]) -> None:
    @given(case=operation.as_strategy(), own_venue=st.booleans())
    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def exercise(case: schemathesis.Case, own_venue: bool) -> None:
        if own_venue:
            if case.query and "venue_id" in case.query:
                case.query["venue_id"] = venue
            if isinstance(case.body, dict) and "venue_id" in case.body:
                case.body["venue_id"] = venue
        response = case.call(headers=headers)
        if response.status_code >= 500 and response.status_code != 503:
            failures.append(f"{operation.label}: {response.status_code} {response.text[:300]}")
            return
        try:
            case.validate_response(response, checks=CHECKS)
        except AssertionError as exc:  # schemathesis' failures are AssertionErrors
            failures.append(f"{operation.label}: {str(exc)[:500]}")

    exercise()
