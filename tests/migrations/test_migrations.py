"""The migration history as a whole: round trips, concurrent starts, URL forms, and the database
rules the event and queue tables enforce by themselves."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg2
import psycopg2.errors
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from tickettoken.migrations import runner

REVISIONS = (
    "0001_integration_tables",
    "0002_integration_additions",
    "0003_event_tables",
    "0004_queue_tables",
    "0005_job_finished_at_index",
    "0006_identity_hardening",
    "0007_payouts_and_money_guards",
    "0008_rate_limit_state",
    "0009_report_rollups",
    "0010_inventory_hold",
    "0011_integration_vault",
    "0012_hold_audit_first",
    "0013_integration_health",
    "0014_sync_engine",
    "0015_box_office_sales",
    "0016_customer_marketing_consent",
    "0017_synced_remote_lookup",
)
JOB_TABLES = ("jobs_money", "jobs_communication", "jobs_background")

Cursor = Any  # psycopg2 cursor


def _tables(url: str) -> set[str]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            return {row[0] for row in cur.fetchall()}
    finally:
        conn.close()


def _routines(url: str) -> set[str]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                " WHERE n.nspname = 'public'"
            )
            return {row[0] for row in cur.fetchall()}
    finally:
        conn.close()


# --- the history ---------------------------------------------------------------------------------


def test_history_is_linear_in_the_documented_order() -> None:
    script = ScriptDirectory.from_config(runner.make_config())
    chain = [rev.revision for rev in script.walk_revisions("base", "heads")]
    assert tuple(reversed(chain)) == REVISIONS
    assert runner.head_revision() == REVISIONS[-1]


def test_upgrade_downgrade_upgrade_round_trip(
    scratch_db: str, snapshot: Callable[[str], dict[str, Any]]
) -> None:
    assert runner.current_revision(scratch_db) is None
    runner.upgrade_to_head(scratch_db)
    assert runner.current_revision(scratch_db) == REVISIONS[-1]
    first = snapshot(scratch_db)
    assert len(first) > 30

    # Down one revision at a time: each downgrade works on its own.
    for previous in reversed((None, *REVISIONS[:-1])):
        runner.downgrade(scratch_db, "-1")
        assert runner.current_revision(scratch_db) == previous
    assert _tables(scratch_db) == {"alembic_version"}
    assert _routines(scratch_db) == set()

    runner.upgrade_to_head(scratch_db)
    assert snapshot(scratch_db) == first

    runner.downgrade_to_base(scratch_db)
    assert runner.current_revision(scratch_db) is None
    assert _tables(scratch_db) == {"alembic_version"}
    runner.upgrade_to_head(scratch_db)
    assert snapshot(scratch_db) == first


def test_concurrent_upgrades_in_one_process(scratch_db: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def migrate() -> None:
        try:
            barrier.wait()
            runner.upgrade_to_head(scratch_db)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert runner.current_revision(scratch_db) == REVISIONS[-1]


def test_concurrent_upgrades_from_several_processes_migrate_once(scratch_db: str) -> None:
    """Instances starting together: the advisory lock lets one migrate, the others wait."""
    code = (
        "import sys; from tickettoken.migrations.runner import upgrade_to_head as u; u(sys.argv[1])"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, scratch_db], stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    results = [
        (proc.wait(timeout=120), proc.stderr.read() if proc.stderr else "") for proc in procs
    ]
    assert [rc for rc, _ in results] == [0, 0, 0], [err for _, err in results]
    assert runner.current_revision(scratch_db) == REVISIONS[-1]


@pytest.mark.parametrize(
    ("scheme", "query"),
    [
        ("postgresql", {}),
        ("postgres", {}),
        ("postgresql+asyncpg", {"ssl": "disable", "prepared_statement_cache_size": "0"}),
        ("postgresql+psycopg2", {}),
    ],
)
def test_runner_accepts_url_forms(migrated_db: str, scheme: str, query: dict[str, str]) -> None:
    url = make_url(migrated_db).set(drivername=scheme).update_query_dict(query)
    rendered = url.render_as_string(hide_password=False)
    assert rendered.startswith(f"{scheme}://")
    assert runner.current_revision(rendered) == REVISIONS[-1]
    runner.upgrade_to_head(rendered)  # already at head: nothing to do


def test_runner_rejects_other_databases() -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        runner.sync_url("mysql://root@localhost/db")


# --- rules the database enforces -----------------------------------------------------------------


@pytest.fixture
def event_ids(db: Cursor) -> Iterator[dict[str, str]]:
    db.execute("INSERT INTO venues (name, capacity) VALUES ('Hall', 1000) RETURNING id")
    venue_id = db.fetchone()[0]
    db.execute(
        "INSERT INTO events (venue_id, name, start_date, end_date, capacity)"
        " VALUES (%s, 'Show', '2030-06-01 20:00+00', '2030-06-01 23:00+00', 500) RETURNING id",
        (venue_id,),
    )
    event_id = db.fetchone()[0]
    db.execute(
        "INSERT INTO ticket_types (event_id, name, price, quantity) VALUES (%s, 'GA', 25.00, 10)"
        " RETURNING id",
        (event_id,),
    )
    yield {"venue": venue_id, "event": event_id, "ticket_type": db.fetchone()[0]}


def _violates(db: Cursor, error: type[Exception], constraint: str, sql: str, *args: Any) -> None:
    db.execute("SAVEPOINT expect_violation")
    with pytest.raises(error) as info:
        db.execute(sql, args)
    db.execute("ROLLBACK TO SAVEPOINT expect_violation")
    assert info.value.diag.constraint_name == constraint  # type: ignore[attr-defined]


def test_ticket_types_cannot_oversell(db: Cursor, event_ids: dict[str, str]) -> None:
    tt = event_ids["ticket_type"]
    db.execute("UPDATE ticket_types SET sold = 6, reserved = 4 WHERE id = %s", (tt,))  # = quantity
    _violates(
        db,
        psycopg2.errors.CheckViolation,
        "ticket_types_sold_reserved_check",
        "UPDATE ticket_types SET reserved = reserved + 1 WHERE id = %s",
        tt,
    )
    _violates(
        db,
        psycopg2.errors.CheckViolation,
        "ticket_types_sold_reserved_check",
        "INSERT INTO ticket_types (event_id, name, price, quantity, sold, reserved)"
        " VALUES (%s, 'VIP', 80, 10, 6, 5)",
        event_ids["event"],
    )
    _violates(
        db,
        psycopg2.errors.CheckViolation,
        "ticket_types_max_per_order_check",
        "UPDATE ticket_types SET max_per_order = 11 WHERE id = %s",
        tt,
    )
    _violates(
        db,
        psycopg2.errors.UniqueViolation,
        "ticket_types_event_id_name_unique",
        "INSERT INTO ticket_types (event_id, name, price, quantity) VALUES (%s, 'ga', 1, 1)",
        event_ids["event"],
    )
    db.execute(
        "SELECT sold, reserved, max_per_order, currency FROM ticket_types WHERE id = %s", (tt,)
    )
    assert db.fetchone() == (6, 4, 6, "USD")


def test_event_status_is_lowercase_only(db: Cursor, event_ids: dict[str, str]) -> None:
    event = event_ids["event"]
    _violates(
        db,
        psycopg2.errors.CheckViolation,
        "events_status_check",
        "UPDATE events SET status = 'PUBLISHED' WHERE id = %s",
        event,
    )
    _violates(
        db,
        psycopg2.errors.CheckViolation,
        "events_category_check",
        "UPDATE events SET category = 'Concert' WHERE id = %s",
        event,
    )
    db.execute("UPDATE events SET status = 'published' WHERE id = %s RETURNING status", (event,))
    assert db.fetchone() == ("published",)


def test_events_same_name_same_venue_same_day_is_refused(
    db: Cursor, event_ids: dict[str, str]
) -> None:
    insert = (
        "INSERT INTO events (venue_id, name, start_date, end_date, capacity)"
        " VALUES (%s, %s, %s, %s, 100)"
    )
    venue = event_ids["venue"]
    _violates(
        db,
        psycopg2.errors.UniqueViolation,
        "events_venue_id_name_start_date_unique",
        insert,
        venue,
        "SHOW",
        "2030-06-01 10:00+00",
        "2030-06-01 11:00+00",
    )
    _violates(
        db,
        psycopg2.errors.CheckViolation,
        "events_end_date_check",
        insert,
        venue,
        "Other",
        "2030-06-01 10:00+00",
        "2030-06-01 09:00+00",
    )
    db.execute(insert, (venue, "Show", "2030-06-02 10:00+00", "2030-06-02 11:00+00"))  # next day
    db.execute("UPDATE events SET deleted_at = now() WHERE id = %s", (event_ids["event"],))
    db.execute(insert, (venue, "show", "2030-06-01 10:00+00", "2030-06-01 11:00+00"))  # freed


def test_refunds_cannot_exceed_the_order_total(db: Cursor, event_ids: dict[str, str]) -> None:
    db.execute(
        "INSERT INTO customers (venue_id, email) VALUES (%s, 'Ann@Example.com') RETURNING id",
        (event_ids["venue"],),
    )
    customer = db.fetchone()[0]
    _violates(
        db,
        psycopg2.errors.UniqueViolation,
        "customers_venue_id_email_unique",
        "INSERT INTO customers (venue_id, email) VALUES (%s, 'ann@example.com')",
        event_ids["venue"],
    )
    db.execute(
        "INSERT INTO orders (customer_id, event_id, total) VALUES (%s, %s, 50.00) RETURNING id",
        (customer, event_ids["event"]),
    )
    order = db.fetchone()[0]
    db.execute(
        "UPDATE orders SET refunded_amount = 50.00, status = 'refunded' WHERE id = %s", (order,)
    )
    _violates(
        db,
        psycopg2.errors.CheckViolation,
        "orders_refunded_amount_check",
        "UPDATE orders SET refunded_amount = 50.01 WHERE id = %s",
        order,
    )


def test_updated_at_follows_updates(db: Cursor, event_ids: dict[str, str]) -> None:
    db.execute(
        "UPDATE venues SET updated_at = '2020-01-01+00' WHERE id = %s", (event_ids["venue"],)
    )
    db.execute(
        "UPDATE venues SET name = 'Big Hall' WHERE id = %s RETURNING updated_at > '2021-01-01+00'",
        (event_ids["venue"],),
    )
    assert db.fetchone() == (True,)


def test_jobs_background_is_unlogged(db: Cursor) -> None:
    db.execute(
        "SELECT relname, relpersistence FROM pg_class WHERE relname = ANY(%s)", (list(JOB_TABLES),)
    )
    assert dict(db.fetchall()) == {
        "jobs_money": "p",
        "jobs_communication": "p",
        "jobs_background": "u",
    }


@pytest.mark.parametrize("table", JOB_TABLES)
def test_job_idempotency_key_is_unique(db: Cursor, table: str) -> None:
    insert = f"INSERT INTO {table} (type, idempotency_key) VALUES ('send-email', %s)"
    db.execute(insert, ("send-email:msg-1",))
    _violates(
        db,
        psycopg2.errors.UniqueViolation,
        f"{table}_idempotency_key_unique",
        insert,
        "send-email:msg-1",
    )
    db.execute(insert, (None,))
    db.execute(insert, (None,))  # jobs without a key do not collide
    _violates(
        db,
        psycopg2.errors.CheckViolation,
        f"{table}_priority_check",
        f"INSERT INTO {table} (type, priority) VALUES ('x', 0)",
    )
    _violates(
        db,
        psycopg2.errors.CheckViolation,
        f"{table}_status_check",
        f"INSERT INTO {table} (type, status) VALUES ('x', 'QUEUED')",
    )
    db.execute(
        f"SELECT status, priority, attempts, job_uuid IS NOT NULL FROM {table}"
        " WHERE idempotency_key = 'send-email:msg-1'"
    )
    assert db.fetchone() == ("queued", 5, 0, True)


def test_queue_state_has_the_three_queues(db: Cursor) -> None:
    db.execute("SELECT queue, paused FROM queue_state ORDER BY queue")
    assert db.fetchall() == [("background", False), ("communication", False), ("money", False)]
