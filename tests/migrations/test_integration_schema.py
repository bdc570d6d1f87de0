"""The nine integration tables created by our migrations are exactly those of seed 001.

Two independent checks:
1. against PostgreSQL's own dump of the seed migration
   (`../shared/reference/integration_schema.sql`, loaded into a second scratch database): every
   column (name, order, type with length and precision, nullability, default), constraint (name,
   kind, definition) and index (name, definition) must be equal; our additions must be listed in
   ALLOWED_ADDITIONS;
2. against the hand-written expectation below (taken from the seed's knex migration), so the test
   still means something when the reference file is absent.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.errors
import pytest

from tickettoken.migrations.runner import upgrade_to_head

SHARED_DIR = Path(__file__).resolve().parents[3] / "shared"
REFERENCE_SQL = SHARED_DIR / "reference" / "integration_schema.sql"

INTEGRATION_TABLES = (
    "integration_configs",
    "oauth_tokens",
    "venue_api_keys",
    "sync_queue",
    "field_mapping_templates",
    "integration_webhooks",
    "sync_logs",
    "integration_health",
    "integration_costs",
)

# What the `snapshot` fixture of conftest.py returns: table name -> TableSchema.
Snapshot = dict[str, Any]

# (table, kind, name) of everything our migrations add to the nine tables. Keep in step with the
# docstring of versions/0002_integration_additions.py (and the README).
ALLOWED_ADDITIONS = {
    ("oauth_tokens", "column", "updated_at"),
    ("oauth_tokens", "column", "provider_data"),
    # 0011: the vault's key version per API-key row, the refresh lease and its fencing token
    ("venue_api_keys", "column", "encryption_key_version"),
    ("oauth_tokens", "column", "refresh_expires_at"),
    ("oauth_tokens", "column", "refresh_generation"),
    ("oauth_tokens", "column", "refresh_lease_owner"),
    ("oauth_tokens", "column", "refresh_lease_expires_at"),
    # 0013: exact monthly bytes, from which data_synced_mb is derived
    ("integration_costs", "column", "data_bytes"),
    # 0014: work items of a sync, their leases; the sync's direction and stop request
    ("sync_queue", "column", "sync_id"),
    ("sync_queue", "column", "lease_owner"),
    ("sync_queue", "column", "lease_expires_at"),
    ("sync_queue", "index", "sync_queue_sync_id_status_index"),
    ("sync_logs", "column", "direction"),
    ("sync_logs", "column", "stop_requested_at"),
}

# --- hand-written expectation, from the knex migration in seed 001 ----------------------------
# One column a line: name, format_type; a trailing "!" means NOT NULL.
EXPECTED_COLUMNS = {
    "integration_configs": """
        id uuid !
        venue_id uuid !
        integration_type character varying(50) !
        status text
        connected_at timestamp with time zone
        disconnected_at timestamp with time zone
        last_sync_at timestamp with time zone
        next_sync_at timestamp with time zone
        config jsonb
        field_mappings jsonb
        template_id uuid
        template_applied_at timestamp with time zone
        health_status text
        health_checked_at timestamp with time zone
        failure_count integer
        last_error text
        last_error_at timestamp with time zone
        created_at timestamp with time zone !
        updated_at timestamp with time zone !
    """,
    "oauth_tokens": """
        id uuid !
        venue_id uuid !
        integration_type character varying(50) !
        encrypted_access_token text !
        encrypted_refresh_token text
        encryption_key_version integer
        scopes text[]
        token_type character varying(50)
        expires_at timestamp with time zone
        refresh_count integer
        last_refreshed_at timestamp with time zone
        refresh_failed_count integer
        created_by uuid
        created_ip inet
        last_used_at timestamp with time zone
        created_at timestamp with time zone
    """,
    "venue_api_keys": """
        id uuid !
        venue_id uuid !
        integration_type character varying(50) !
        encrypted_api_key text !
        encrypted_api_secret text
        key_name character varying(255)
        environment character varying(20)
        is_valid boolean
        last_validated_at timestamp with time zone
        validation_error text
        created_at timestamp with time zone !
        updated_at timestamp with time zone !
    """,
    "sync_queue": """
        id uuid !
        venue_id uuid !
        integration_type character varying(50) !
        operation_type text !
        entity_type character varying(50) !
        entity_id character varying(255)
        payload jsonb !
        idempotency_key character varying(255)
        priority text
        status text
        attempts integer
        max_attempts integer
        next_retry_at timestamp with time zone
        queued_at timestamp with time zone
        started_at timestamp with time zone
        completed_at timestamp with time zone
        expires_at timestamp with time zone
        last_error text
        error_count integer
        correlation_id character varying(255)
    """,
    "field_mapping_templates": """
        id uuid !
        name character varying(100) !
        description text
        venue_type character varying(50)
        integration_type character varying(50) !
        mappings jsonb !
        validation_rules jsonb
        usage_count integer
        last_used_at timestamp with time zone
        is_default boolean
        is_active boolean
        created_at timestamp with time zone !
        updated_at timestamp with time zone !
    """,
    "integration_webhooks": """
        id uuid !
        venue_id uuid
        integration_type character varying(50) !
        event_type character varying(100) !
        event_id character varying(255)
        headers jsonb
        payload jsonb !
        signature character varying(500)
        status text
        processed_at timestamp with time zone
        error text
        retry_count integer
        external_id character varying(255)
        received_at timestamp with time zone
    """,
    "sync_logs": """
        id uuid !
        venue_id uuid !
        integration_type character varying(50) !
        sync_id uuid
        operation character varying(100) !
        entity_type character varying(50)
        entity_count integer
        status character varying(50) !
        success_count integer
        error_count integer
        skip_count integer
        duration_ms integer
        api_calls_made integer
        details jsonb
        errors jsonb
        started_at timestamp with time zone !
        completed_at timestamp with time zone
    """,
    "integration_health": """
        id uuid !
        venue_id uuid !
        integration_type character varying(50) !
        success_rate numeric(5,2)
        average_sync_time_ms integer
        last_success_at timestamp with time zone
        last_failure_at timestamp with time zone
        sync_count_24h integer
        success_count_24h integer
        failure_count_24h integer
        api_calls_24h integer
        api_quota_remaining integer
        api_quota_resets_at timestamp with time zone
        queue_depth integer
        oldest_queue_item_at timestamp with time zone
        calculated_at timestamp with time zone
    """,
    "integration_costs": """
        id uuid !
        venue_id uuid !
        integration_type character varying(50) !
        period_start date !
        period_end date !
        api_calls integer
        data_synced_mb numeric(10,2)
        base_cost numeric(10,2)
        overage_cost numeric(10,2)
        total_cost numeric(10,2)
        included_in_plan boolean
        billed_to_venue boolean
        created_at timestamp with time zone
    """,
}

EXPECTED_DEFAULTS = {
    ("integration_configs", "status"): "'disconnected'::text",
    ("integration_configs", "health_status"): "'unknown'::text",
    ("integration_configs", "config"): "'{}'::jsonb",
    ("oauth_tokens", "token_type"): "'Bearer'::character varying",
    ("oauth_tokens", "encryption_key_version"): "1",
    ("venue_api_keys", "environment"): "'production'::character varying",
    ("sync_queue", "priority"): "'NORMAL'::text",
    ("sync_queue", "status"): "'pending'::text",
    ("sync_queue", "max_attempts"): "10",
    ("sync_queue", "expires_at"): "(CURRENT_TIMESTAMP + '7 days'::interval)",
    ("integration_webhooks", "status"): "'pending'::text",
    ("field_mapping_templates", "is_active"): "true",
    ("integration_costs", "included_in_plan"): "true",
}

EXPECTED_CHECK_VALUES = {
    "integration_configs_status_check": (
        "disconnected",
        "connecting",
        "connected",
        "error",
        "suspended",
    ),
    "integration_configs_health_status_check": ("healthy", "degraded", "unhealthy", "unknown"),
    "sync_queue_operation_type_check": ("create", "update", "delete", "sync", "reconcile"),
    "sync_queue_priority_check": ("CRITICAL", "HIGH", "NORMAL", "LOW"),
    "sync_queue_status_check": ("pending", "processing", "completed", "failed", "dead_letter"),
    "integration_webhooks_status_check": (
        "pending",
        "processing",
        "processed",
        "failed",
        "ignored",
    ),
}

# name -> columns
EXPECTED_UNIQUES = {
    "integration_configs_venue_id_integration_type_unique": "venue_id, integration_type",
    "oauth_tokens_venue_id_integration_type_unique": "venue_id, integration_type",
    "venue_api_keys_venue_id_integration_type_environment_unique": (
        "venue_id, integration_type, environment"
    ),
    "sync_queue_idempotency_key_unique": "idempotency_key",
    "integration_webhooks_integration_type_external_id_unique": "integration_type, external_id",
    "integration_health_venue_id_integration_type_unique": "venue_id, integration_type",
    "integration_costs_venue_id_integration_type_period_start_unique": (
        "venue_id, integration_type, period_start"
    ),
}

# Non-constraint indexes: name -> indexed columns.
EXPECTED_INDEXES = {
    "integration_configs_venue_id_index": "venue_id",
    "integration_configs_status_index": "status",
    "integration_configs_health_status_index": "health_status",
    "oauth_tokens_expires_at_index": "expires_at",
    "oauth_tokens_venue_id_index": "venue_id",
    "sync_queue_venue_id_status_index": "venue_id, status",
    "sync_queue_priority_status_index": "priority, status",
    "sync_queue_next_retry_at_index": "next_retry_at",
    "sync_queue_expires_at_index": "expires_at",
    "field_mapping_templates_venue_type_index": "venue_type",
    "field_mapping_templates_integration_type_index": "integration_type",
    "field_mapping_templates_is_default_index": "is_default",
    "integration_webhooks_venue_id_status_index": "venue_id, status",
    "integration_webhooks_external_id_index": "external_id",
    "integration_webhooks_received_at_index": "received_at",
    "sync_logs_venue_id_started_at_index": "venue_id, started_at",
    "sync_logs_sync_id_index": "sync_id",
    "integration_health_calculated_at_index": "calculated_at",
}


# --- helpers -------------------------------------------------------------------------------------


def _diff(label: str, expected: Iterable[str], actual: Iterable[str]) -> str:
    lines = difflib.unified_diff(
        list(expected),
        list(actual),
        fromfile=f"{label} expected",
        tofile=f"{label} ours",
        lineterm="",
        n=1,
    )
    return "\n".join(lines)


def _column_lines(table: Any, skip: set[str]) -> list[str]:
    return [
        f"{name} {type_}{' NOT NULL' if notnull else ''} DEFAULT {default}"
        + (f" IDENTITY {identity}" if identity else "")
        for name, type_, notnull, default, identity in table.columns
        if name not in skip
    ]


def _additions(table: str, kind: str) -> set[str]:
    return {name for (t, k, name) in ALLOWED_ADDITIONS if t == table and k == kind}


def _load_reference(url: str) -> None:
    script = "\n".join(
        line for line in REFERENCE_SQL.read_text().splitlines() if not line.startswith("\\")
    )
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(script)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def ours(migrated_db: str, snapshot: Callable[[str], Snapshot]) -> Snapshot:
    return snapshot(migrated_db)


# --- against PostgreSQL's dump of the seed migration -------------------------------------------


@pytest.fixture(scope="module")
def reference(
    create_scratch_db: Callable[[], str], snapshot: Callable[[str], Snapshot]
) -> Snapshot:
    if not REFERENCE_SQL.is_file():
        pytest.skip(f"reference dump not found at {REFERENCE_SQL}")
    url = create_scratch_db()
    _load_reference(url)
    return snapshot(url)


def test_reference_dump_holds_the_nine_tables(reference: Snapshot) -> None:
    assert sorted(reference) == sorted(INTEGRATION_TABLES)


@pytest.mark.parametrize("table", INTEGRATION_TABLES)
def test_columns_match_reference(table: str, ours: Snapshot, reference: Snapshot) -> None:
    assert table in ours, f"migrations do not create {table}"
    added = _additions(table, "column")
    ours_names = {c[0] for c in ours[table].columns}
    assert added <= ours_names, f"ALLOWED_ADDITIONS lists columns that do not exist: {added}"
    unexpected = [
        c[0]
        for c in ours[table].columns
        if c[0] not in {r[0] for r in reference[table].columns} and c[0] not in added
    ]
    assert not unexpected, f"{table}: columns not in seed 001 nor ALLOWED_ADDITIONS: {unexpected}"
    expected = _column_lines(reference[table], set())
    actual = _column_lines(ours[table], added)
    assert actual == expected, _diff(f"{table} columns", expected, actual)
    # Additions come after the seed's columns, so the seed's column order is kept.
    assert [c[0] for c in ours[table].columns][: len(expected)] == [
        c[0] for c in reference[table].columns
    ]


@pytest.mark.parametrize("table", INTEGRATION_TABLES)
def test_constraints_match_reference(table: str, ours: Snapshot, reference: Snapshot) -> None:
    added = _additions(table, "constraint")
    expected = sorted(f"{n} {t} {d}" for n, (t, d) in reference[table].constraints.items())
    actual = sorted(
        f"{n} {t} {d}" for n, (t, d) in ours[table].constraints.items() if n not in added
    )
    assert actual == expected, _diff(f"{table} constraints", expected, actual)


@pytest.mark.parametrize("table", INTEGRATION_TABLES)
def test_indexes_match_reference(table: str, ours: Snapshot, reference: Snapshot) -> None:
    added = _additions(table, "index")
    expected = sorted(f"{n}: {d}" for n, d in reference[table].indexes.items())
    actual = sorted(f"{n}: {d}" for n, d in ours[table].indexes.items() if n not in added)
    assert actual == expected, _diff(f"{table} indexes", expected, actual)


@pytest.mark.parametrize("table", INTEGRATION_TABLES)
def test_table_kind_matches_reference(table: str, ours: Snapshot, reference: Snapshot) -> None:
    assert (ours[table].kind, ours[table].persistence) == (
        reference[table].kind,
        reference[table].persistence,
    )
    assert ours[table].triggers == reference[table].triggers


# --- against the hand-written expectation --------------------------------------------------------


def _expected_column_lines(table: str) -> list[str]:
    lines = []
    for raw in EXPECTED_COLUMNS[table].strip().splitlines():
        spec = raw.strip()
        notnull = spec.endswith("!")
        lines.append(f"{spec.rstrip(' !')}{' NOT NULL' if notnull else ''}")
    return lines


@pytest.mark.parametrize("table", INTEGRATION_TABLES)
def test_columns_match_handwritten_expectation(table: str, ours: Snapshot) -> None:
    added = _additions(table, "column")
    actual = [
        f"{name} {type_}{' NOT NULL' if notnull else ''}"
        for name, type_, notnull, _, _ in ours[table].columns
        if name not in added
    ]
    expected = _expected_column_lines(table)
    assert actual == expected, _diff(f"{table} columns", expected, actual)
    # Every table of the seed has a uuid primary key generated by the database.
    assert ours[table].columns[0][3] == "gen_random_uuid()"
    assert ours[table].constraints[f"{table}_pkey"] == ("p", "PRIMARY KEY (id)")


def test_defaults_match_handwritten_expectation(ours: Snapshot) -> None:
    defaults = {(t, c[0]): c[3] for t in INTEGRATION_TABLES for c in ours[t].columns}
    wrong = {
        key: (want, defaults.get(key))
        for key, want in EXPECTED_DEFAULTS.items()
        if defaults.get(key) != want
    }
    assert not wrong, f"(table, column): (expected default, ours): {wrong}"


def test_status_checks_allow_exactly_the_seed_values(ours: Snapshot) -> None:
    constraints = {n: d for t in INTEGRATION_TABLES for n, (_, d) in ours[t].constraints.items()}
    checks = {
        n for t in INTEGRATION_TABLES for n, (k, _) in ours[t].constraints.items() if k == "c"
    }
    assert checks == set(EXPECTED_CHECK_VALUES), "CHECK constraints differ from seed 001"
    for name, values in EXPECTED_CHECK_VALUES.items():
        allowed = tuple(re.findall(r"'([^']*)'::text", constraints[name]))
        assert allowed == values, f"{name}: allows {allowed}, seed allows {values}"


def test_unique_constraints_match_handwritten_expectation(ours: Snapshot) -> None:
    actual = {
        n: d for t in INTEGRATION_TABLES for n, (k, d) in ours[t].constraints.items() if k == "u"
    }
    assert actual == {name: f"UNIQUE ({cols})" for name, cols in EXPECTED_UNIQUES.items()}


def test_indexes_match_handwritten_expectation(ours: Snapshot) -> None:
    constraint_names = {n for t in INTEGRATION_TABLES for n in ours[t].constraints}
    actual = {}
    for table in INTEGRATION_TABLES:
        for name, definition in ours[table].indexes.items():
            if name in constraint_names or (table, "index", name) in ALLOWED_ADDITIONS:
                continue
            match = re.fullmatch(
                rf"CREATE INDEX {name} ON public\.{table} USING btree \((.*)\)", definition
            )
            assert match, f"unexpected index definition: {definition}"
            actual[name] = match.group(1)
    assert actual == EXPECTED_INDEXES


def test_additions_exist(ours: Snapshot) -> None:
    columns = {c[0]: c for c in ours["oauth_tokens"].columns}
    assert columns["updated_at"][1:4] == ("timestamp with time zone", True, "now()")
    assert columns["provider_data"][1:4] == ("jsonb", True, "'{}'::jsonb")
    states = {c[0]: c[1:3] for c in ours["oauth_states"].columns}
    assert states == {
        "state": ("text", True),
        "venue_id": ("uuid", True),
        "integration_type": ("character varying(50)", True),
        "user_id": ("text", True),
        "redirect_after": ("text", False),
        "code_verifier": ("text", False),
        "created_at": ("timestamp with time zone", True),
        "expires_at": ("timestamp with time zone", True),
        "used_at": ("timestamp with time zone", False),
    }
    assert ours["oauth_states"].constraints["oauth_states_pkey"] == ("p", "PRIMARY KEY (state)")


def test_status_values_outside_the_seed_are_rejected(db: psycopg2.extensions.cursor) -> None:
    """AUDIT: the original code wrote integration_configs.status = 'disabled'."""
    db.execute("SAVEPOINT s")
    with pytest.raises(psycopg2.errors.CheckViolation) as info:
        db.execute(
            "INSERT INTO integration_configs (venue_id, integration_type, status)"
            " VALUES (gen_random_uuid(), 'stripe', 'disabled')"
        )
    assert info.value.diag.constraint_name == "integration_configs_status_check"
    db.execute("ROLLBACK TO SAVEPOINT s")
    db.execute(
        "INSERT INTO integration_configs (venue_id, integration_type)"
        " VALUES (gen_random_uuid(), 'stripe') RETURNING status, health_status"
    )
    assert db.fetchone() == ("disconnected", "unknown")


def test_migrating_twice_changes_nothing(
    migrated_db: str, ours: Snapshot, snapshot: Callable[[str], Snapshot]
) -> None:
    upgrade_to_head(migrated_db)
    assert snapshot(migrated_db) == ours
