"""Schemathesis against the event service's OpenAPI.

``test_every_check_passes_against_a_running_service``: ``st run --checks all`` (every check of
the installed schemathesis, the stateful phase included, which chains operations through the
OpenAPI links the routes declare: a venue created, then its event, ticket type, publication,
hold, order, refund) against ``tickettoken serve event`` on a real database, as an admin; zero
failures. Configuration and the one replaced check: ``schemathesis.toml`` and
``contract_hooks.py`` next to this file. ``positive_data_acceptance`` runs as
``positive_data_acceptance_beyond_cross_field_rules``: a 422 that names only a rule JSON Schema
cannot state, such as ``end_date`` after ``start_date``, is accepted; any other rejection of valid
data still fails; the hooks' ``map_case`` gives valid generated events dates the rules accept.
``object_level_authorization`` runs only with WFC ``peers`` (two identities that must not see
each other's objects) and so does nothing with the one admin token: who may see what across
venues and customers is tested in tests/security/test_roles.py and the domain tests.
Generated text is UTF-8 without U+0000 (``--generation-allow-x00 false``, ``--generation-codec
utf-8``), as in the queue's run: PostgreSQL stores neither, every request model refuses them with
a 422 (``kit.schema_types.RequestModel``, tested in tests/security/test_limits.py), and a
free-form object such as a pricing rule's ``conditions`` has no JSON Schema that could say so of
every nested key and string. The seed is fixed (``EVENT_FUZZ_SEED`` to vary it) so that a run
is repeatable.

``test_no_generated_request_causes_a_server_error``: in-process (ASGI), path parameters drawn
half of the time from rows that exist, so generated requests reach the services and the
database instead of stopping at 404.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.openapi import from_asgi
from tests.e2e.test_plain_worker import _serve
from tests.queue.handlers.handler_processes import base_env

from tickettoken.events.app import create_app
from tickettoken.kit.auth import mint_token
from tickettoken.kit.settings import Settings

EXAMPLES = 40
HERE = Path(__file__).resolve().parent
# Examples per operation and phase: about a minute and a half on 2 shared cores.
CONTRACT_EXAMPLES = 10


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


def test_every_check_passes_against_a_running_service(event_settings: Settings) -> None:
    assert event_settings.database_url is not None
    env = base_env(
        DATABASE_URL=event_settings.database_url,
        REDIS_URL=event_settings.redis_url or "",
        JWT_SECRET=event_settings.jwt_secret,
    )
    token = mint_token(role="admin", settings=event_settings)
    with tempfile.TemporaryDirectory() as cwd, _serve("event", env, cwd) as url:
        started = time.monotonic()
        run = subprocess.run(
            [
                sys.executable,
                "-c",
                "from schemathesis.cli import schemathesis; schemathesis()",
                "--config-file",
                str(HERE / "schemathesis.toml"),
                "run",
                f"{url}/openapi.json",
                "--checks",
                "all",
                "--exclude-checks",
                "positive_data_acceptance",
                "--header",
                f"Authorization: Bearer {token}",
                "--max-examples",
                str(CONTRACT_EXAMPLES),
                # One worker: on Python 3.11 two threads in hypothesis' lambda-source parsing
                # can trip CPython's "AST constructor recursion depth mismatch" (a tool error).
                "--workers",
                "1",
                "--generation-database",
                "none",
                # Text PostgreSQL can store: see the module docstring.
                "--generation-allow-x00",
                "false",
                "--generation-codec",
                "utf-8",
                "--seed",
                os.environ.get("EVENT_FUZZ_SEED", "8"),
                "--no-color",
            ],
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{env['PYTHONPATH']}"},
            capture_output=True,
            text=True,
            timeout=600,
        )
        elapsed = time.monotonic() - started
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-20_000:]
    assert "Stateful" in output, output[-5_000:]
    print(f"schemathesis --checks all: {elapsed:.0f} s\n{output[-1_500:]}")
