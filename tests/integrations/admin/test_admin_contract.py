"""Generated requests against the health and admin routes as an admin (schemathesis, in-process,
the sandbox), in a database of their own (a generated clear-queue or recover-stale must not touch
other tests' rows): no server error, and every answer matches the declared statuses and schemas."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.openapi import from_asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests.integrations.health.support import connect_stripe, engine_for
from tests.support import make_settings, migrated_scratch_database

from tickettoken.kit.auth import mint_token
from tickettoken.kit.settings import Settings

EXAMPLES = 10
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
async def admin_settings(
    pg_server_url: str, redis_url: str, integration_settings: Settings
) -> AsyncIterator[Settings]:
    async with migrated_scratch_database(pg_server_url, "tt_admin") as url:
        values = integration_settings.model_dump()
        values.update(database_url=url, redis_url=redis_url)
        yield make_settings(**{k: v for k, v in values.items() if v is not None})


async def test_generated_admin_and_health_requests_meet_the_contract(
    admin_settings: Settings,
) -> None:
    from tickettoken.integrations.app import create_app

    venue = uuid.uuid4()
    async with engine_for(admin_settings) as engine:
        await connect_stripe(engine, admin_settings, venue)
    schema = from_asgi("/openapi.json", create_app(admin_settings))
    token = mint_token(role="admin", settings=admin_settings)
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if "/health/" in operation.path or "/admin/" in operation.path:
            _fuzz(operation, headers, str(venue), failures)
    assert not failures, "\n".join(failures[:20])


def _fuzz(operation: Any, headers: dict[str, str], venue: str, failures: list[str]) -> None:
    @given(case=operation.as_strategy(), known_venue=st.booleans())
    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def exercise(case: schemathesis.Case, known_venue: bool) -> None:
        if known_venue:
            if case.path_parameters and "provider" in case.path_parameters:
                case.path_parameters["provider"] = "stripe"  # the venue's connection
            if isinstance(case.body, dict) and "provider" in case.body:
                case.body["provider"] = "stripe"
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
        except AssertionError as exc:
            failures.append(f"{operation.label}: {str(exc)[:500]}")

    exercise()
