"""The queue engine's tables (PostgreSQL is the queue: ARCHITECTURE.md, "Queue engine").

Three job tables with identical columns, one per tier:
- `jobs_money` (tier 1, logged; written with synchronous commit),
- `jobs_communication` (tier 2, logged; the engine may write it with `synchronous_commit = off`),
- `jobs_background` (tier 3, `UNLOGGED`: fast, emptied after a database crash).

Job columns: `id` bigint identity (internal, claim order), `job_uuid` (the public job id),
`status` in queued|active|completed|failed|cancelled|dead, `priority` 1..10 where **1 is the
highest** (claim with `ORDER BY priority, run_at, id`; default 5), `attempts`/`max_attempts`
(defaults per tier: money 10, communication 3, background 2), `backoff` jsonb
(`{"type": "exponential"|"fixed", "delay_ms": N}`, defaults per tier: exponential 2000 ms,
fixed 5000 ms, fixed 10000 ms), `run_at` (not before; delays), `locked_by`/`locked_until` (the
lease a worker holds while `active`), `idempotency_key` (UNIQUE: a repeat enqueue conflicts),
`venue_id` (authorization), `result`, `last_error`, timestamps.

Indexes: `<t>_priority_run_at_id_queued_index` (priority, run_at, id) WHERE status = 'queued' for
claiming with SKIP LOCKED; `<t>_locked_until_active_index` (locked_until) WHERE status = 'active'
for expired leases; `<t>_status_created_at_index` for listings and retention clean-up.

Other tables: `queue_state` (pause flag per queue, rows for the three queues inserted here),
`dead_letter_jobs`, `idempotency_keys` (stored results of finished jobs by key), `alert_history`,
`alert_cooldowns` (cooldowns shared by every instance), `queue_metrics`, `rate_limit_metrics`,
`analytics_events`, `reports` (generated reports; status pending|running|completed|failed).

Revision ID: 0004_queue_tables
Revises: 0003_event_tables
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004_queue_tables"
down_revision: str | None = "0003_event_tables"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> (persistence keyword, default max_attempts, default backoff JSON)
JOB_TABLES: dict[str, tuple[str, int, str]] = {
    "jobs_money": ("", 10, '{"type": "exponential", "delay_ms": 2000}'),
    "jobs_communication": ("", 3, '{"type": "fixed", "delay_ms": 5000}'),
    "jobs_background": ("UNLOGGED", 2, '{"type": "fixed", "delay_ms": 10000}'),
}

JOB_STATUSES = "'queued', 'active', 'completed', 'failed', 'cancelled', 'dead'"

OTHER_TABLES = (
    "queue_state",
    "dead_letter_jobs",
    "idempotency_keys",
    "alert_history",
    "alert_cooldowns",
    "queue_metrics",
    "rate_limit_metrics",
    "analytics_events",
    "reports",
)


def _job_table(table: str, persistence: str, max_attempts: int, backoff: str) -> list[str]:
    create = "CREATE UNLOGGED TABLE" if persistence == "UNLOGGED" else "CREATE TABLE"
    return [
        f"""
        {create} {table} (
            id bigint GENERATED ALWAYS AS IDENTITY,
            job_uuid uuid DEFAULT gen_random_uuid() NOT NULL,
            type text NOT NULL,
            payload jsonb DEFAULT '{{}}'::jsonb NOT NULL,
            status text DEFAULT 'queued' NOT NULL,
            priority smallint DEFAULT 5 NOT NULL,
            attempts integer DEFAULT 0 NOT NULL,
            max_attempts integer DEFAULT {max_attempts} NOT NULL,
            backoff jsonb DEFAULT '{backoff}'::jsonb NOT NULL,
            run_at timestamptz DEFAULT now() NOT NULL,
            locked_by text,
            locked_until timestamptz,
            idempotency_key varchar(255),
            venue_id uuid,
            result jsonb,
            last_error text,
            created_at timestamptz DEFAULT now() NOT NULL,
            updated_at timestamptz DEFAULT now() NOT NULL,
            started_at timestamptz,
            finished_at timestamptz,
            CONSTRAINT {table}_pkey PRIMARY KEY (id),
            CONSTRAINT {table}_job_uuid_unique UNIQUE (job_uuid),
            CONSTRAINT {table}_idempotency_key_unique UNIQUE (idempotency_key),
            CONSTRAINT {table}_status_check CHECK (status IN ({JOB_STATUSES})),
            CONSTRAINT {table}_priority_check CHECK (priority BETWEEN 1 AND 10),
            CONSTRAINT {table}_attempts_check CHECK (attempts >= 0),
            CONSTRAINT {table}_max_attempts_check CHECK (max_attempts >= 1)
        )
        """,
        f"CREATE INDEX {table}_priority_run_at_id_queued_index ON {table} (priority, run_at, id)"
        " WHERE status = 'queued'",
        f"CREATE INDEX {table}_locked_until_active_index ON {table} (locked_until)"
        " WHERE status = 'active'",
        f"CREATE INDEX {table}_status_created_at_index ON {table} (status, created_at)",
    ]


UPGRADE: tuple[str, ...] = (
    *(
        statement
        for table, (persistence, attempts, backoff) in JOB_TABLES.items()
        for statement in _job_table(table, persistence, attempts, backoff)
    ),
    """
    CREATE TABLE queue_state (
        queue text NOT NULL,
        paused boolean DEFAULT false NOT NULL,
        paused_by text,
        created_at timestamptz DEFAULT now() NOT NULL,
        updated_at timestamptz DEFAULT now() NOT NULL,
        CONSTRAINT queue_state_pkey PRIMARY KEY (queue)
    )
    """,
    "INSERT INTO queue_state (queue) VALUES ('money'), ('communication'), ('background')",
    """
    CREATE TABLE dead_letter_jobs (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        queue text NOT NULL,
        original_job_id bigint,
        job_uuid uuid,
        type text NOT NULL,
        payload jsonb DEFAULT '{}'::jsonb NOT NULL,
        attempts integer DEFAULT 0 NOT NULL,
        last_error text,
        idempotency_key varchar(255),
        venue_id uuid,
        failed_at timestamptz DEFAULT now() NOT NULL,
        requeued_at timestamptz,
        created_at timestamptz DEFAULT now() NOT NULL,
        updated_at timestamptz DEFAULT now() NOT NULL,
        CONSTRAINT dead_letter_jobs_pkey PRIMARY KEY (id)
    )
    """,
    "CREATE INDEX dead_letter_jobs_queue_failed_at_index ON dead_letter_jobs (queue, failed_at)",
    "CREATE INDEX dead_letter_jobs_job_uuid_index ON dead_letter_jobs (job_uuid)",
    """
    CREATE TABLE idempotency_keys (
        key varchar(255) NOT NULL,
        queue text NOT NULL,
        job_type text NOT NULL,
        job_uuid uuid,
        result jsonb,
        created_at timestamptz DEFAULT now() NOT NULL,
        expires_at timestamptz NOT NULL,
        CONSTRAINT idempotency_keys_pkey PRIMARY KEY (key)
    )
    """,
    "CREATE INDEX idempotency_keys_expires_at_index ON idempotency_keys (expires_at)",
    """
    CREATE TABLE alert_history (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        severity text NOT NULL,
        alert_type text NOT NULL,
        message text NOT NULL,
        queue_name text,
        metric_value numeric,
        threshold_value numeric,
        acknowledged boolean DEFAULT false NOT NULL,
        acknowledged_by text,
        acknowledged_at timestamptz,
        created_at timestamptz DEFAULT now() NOT NULL,
        updated_at timestamptz DEFAULT now() NOT NULL,
        CONSTRAINT alert_history_pkey PRIMARY KEY (id),
        CONSTRAINT alert_history_severity_check CHECK (
            severity IN ('critical', 'warning', 'info')
        )
    )
    """,
    "CREATE INDEX alert_history_created_at_index ON alert_history (created_at)",
    "CREATE INDEX alert_history_acknowledged_created_at_index"
    " ON alert_history (acknowledged, created_at)",
    """
    CREATE TABLE alert_cooldowns (
        alert_key text NOT NULL,
        last_sent_at timestamptz NOT NULL,
        CONSTRAINT alert_cooldowns_pkey PRIMARY KEY (alert_key)
    )
    """,
    """
    CREATE TABLE queue_metrics (
        id bigint GENERATED ALWAYS AS IDENTITY,
        queue_name text NOT NULL,
        waiting integer DEFAULT 0 NOT NULL,
        active integer DEFAULT 0 NOT NULL,
        completed bigint DEFAULT 0 NOT NULL,
        failed bigint DEFAULT 0 NOT NULL,
        delayed integer DEFAULT 0 NOT NULL,
        throughput numeric,
        failure_rate numeric,
        oldest_waiting_seconds numeric,
        captured_at timestamptz DEFAULT now() NOT NULL,
        CONSTRAINT queue_metrics_pkey PRIMARY KEY (id)
    )
    """,
    "CREATE INDEX queue_metrics_queue_name_captured_at_index"
    " ON queue_metrics (queue_name, captured_at)",
    """
    CREATE TABLE rate_limit_metrics (
        id bigint GENERATED ALWAYS AS IDENTITY,
        provider text NOT NULL,
        tokens_available numeric,
        concurrent integer,
        waited_ms integer,
        rejected integer,
        captured_at timestamptz DEFAULT now() NOT NULL,
        CONSTRAINT rate_limit_metrics_pkey PRIMARY KEY (id)
    )
    """,
    "CREATE INDEX rate_limit_metrics_provider_captured_at_index"
    " ON rate_limit_metrics (provider, captured_at)",
    """
    CREATE TABLE analytics_events (
        id bigint GENERATED ALWAYS AS IDENTITY,
        event_type text NOT NULL,
        venue_id uuid,
        user_id text,
        properties jsonb DEFAULT '{}'::jsonb NOT NULL,
        occurred_at timestamptz DEFAULT now() NOT NULL,
        created_at timestamptz DEFAULT now() NOT NULL,
        CONSTRAINT analytics_events_pkey PRIMARY KEY (id)
    )
    """,
    "CREATE INDEX analytics_events_event_type_occurred_at_index"
    " ON analytics_events (event_type, occurred_at)",
    "CREATE INDEX analytics_events_venue_id_occurred_at_index"
    " ON analytics_events (venue_id, occurred_at)",
    """
    CREATE TABLE reports (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        report_type text NOT NULL,
        parameters jsonb DEFAULT '{}'::jsonb NOT NULL,
        status text DEFAULT 'pending' NOT NULL,
        result jsonb,
        error text,
        created_by text,
        created_at timestamptz DEFAULT now() NOT NULL,
        updated_at timestamptz DEFAULT now() NOT NULL,
        completed_at timestamptz,
        CONSTRAINT reports_pkey PRIMARY KEY (id),
        CONSTRAINT reports_status_check CHECK (
            status IN ('pending', 'running', 'completed', 'failed')
        )
    )
    """,
    "CREATE INDEX reports_status_created_at_index ON reports (status, created_at)",
    "CREATE INDEX reports_created_by_created_at_index ON reports (created_by, created_at)",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for table in (*reversed(OTHER_TABLES), *reversed(JOB_TABLES)):
        op.execute(f"DROP TABLE IF EXISTS {table}")
