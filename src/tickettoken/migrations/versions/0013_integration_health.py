"""Additive tables and a column for integration health and costs (issue 9, point 6).

Every addition (nothing of revisions 0001-0012 is altered or removed):

1. Table `integration_health_samples`: one row per live connection check (scheduled or asked
   for through `POST /health/{provider}/test`): venue, provider, `checked_at`, `ok`,
   `response_ms`, the provider's HTTP `status_code` and `error_code` when it answered, and
   `trigger` (`scheduled` | `manual`). `integration_health` holds only the current 24 h figures;
   the rolling 24 h / 7 d / 30 d metrics are computed from these rows. Indexes
   `(venue_id, integration_type, checked_at)` (metrics) and `(checked_at)` (the clean-up of rows
   older than 35 days).
2. Table `integration_api_usage`: provider API calls per venue, provider and hour (`hour_start`,
   primary key with venue and provider): `api_calls`, `failed_calls` (no answer, or 4xx/5xx),
   `bytes_sent`, `bytes_received`. Written by the same batched upsert as `integration_costs`
   (which is monthly); `integration_health.api_calls_24h` and the metrics read it.
3. `integration_costs.data_bytes bigint NOT NULL DEFAULT 0`: the exact bytes sent plus
   received in the month. `data_synced_mb` (numeric(10,2)) is derived from it on every upsert,
   so many small batches do not each round their few kilobytes down to 0.00 MB.

Revision ID: 0013_integration_health
Revises: 0012_hold_audit_first
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013_integration_health"
down_revision: str | None = "0012_hold_audit_first"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = (
    """
    CREATE TABLE integration_health_samples (
        id bigint GENERATED ALWAYS AS IDENTITY,
        venue_id uuid NOT NULL,
        integration_type varchar(50) NOT NULL,
        checked_at timestamptz DEFAULT now() NOT NULL,
        ok boolean NOT NULL,
        response_ms integer NOT NULL,
        status_code integer,
        error_code varchar(100),
        trigger text DEFAULT 'scheduled' NOT NULL,
        CONSTRAINT integration_health_samples_pkey PRIMARY KEY (id),
        CONSTRAINT integration_health_samples_trigger_check
            CHECK (trigger IN ('scheduled', 'manual')),
        CONSTRAINT integration_health_samples_response_ms_check CHECK (response_ms >= 0)
    )
    """,
    "CREATE INDEX integration_health_samples_venue_type_checked_at_index"
    " ON integration_health_samples (venue_id, integration_type, checked_at)",
    "CREATE INDEX integration_health_samples_checked_at_index"
    " ON integration_health_samples (checked_at)",
    """
    CREATE TABLE integration_api_usage (
        venue_id uuid NOT NULL,
        integration_type varchar(50) NOT NULL,
        hour_start timestamptz NOT NULL,
        api_calls integer DEFAULT 0 NOT NULL,
        failed_calls integer DEFAULT 0 NOT NULL,
        bytes_sent bigint DEFAULT 0 NOT NULL,
        bytes_received bigint DEFAULT 0 NOT NULL,
        CONSTRAINT integration_api_usage_pkey
            PRIMARY KEY (venue_id, integration_type, hour_start)
    )
    """,
    "CREATE INDEX integration_api_usage_hour_start_index ON integration_api_usage (hour_start)",
    "ALTER TABLE integration_costs ADD COLUMN data_bytes bigint DEFAULT 0 NOT NULL",
)

DOWNGRADE = (
    "ALTER TABLE integration_costs DROP COLUMN IF EXISTS data_bytes",
    "DROP TABLE IF EXISTS integration_api_usage",
    "DROP TABLE IF EXISTS integration_health_samples",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
