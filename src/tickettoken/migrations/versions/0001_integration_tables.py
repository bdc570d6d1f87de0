"""The nine integration tables, exactly as the integration service's migration 001 creates them.

Same names, columns and column order, types, nullability, defaults, CHECK constraints (knex enums
become `text` + `<table>_<column>_check`), unique constraints (`<table>_<cols>_unique`) and indexes
(`<table>_<cols>_index`) as seed 001; tests/migrations/test_integration_schema.py compares the
result with PostgreSQL's own dump of that migration. Do not edit: additions go in later revisions.

Revision ID: 0001_integration_tables
Revises: (none)
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0001_integration_tables"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
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

# gen_random_uuid() is built in from PostgreSQL 13; older servers get it from pgcrypto.
ENSURE_GEN_RANDOM_UUID = """
DO $$
BEGIN
    IF to_regprocedure('gen_random_uuid()') IS NULL THEN
        CREATE EXTENSION IF NOT EXISTS pgcrypto;
    END IF;
END
$$
"""

UPGRADE = (
    ENSURE_GEN_RANDOM_UUID,
    """
    CREATE TABLE integration_configs (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        venue_id uuid NOT NULL,
        integration_type varchar(50) NOT NULL,
        status text DEFAULT 'disconnected',
        connected_at timestamptz,
        disconnected_at timestamptz,
        last_sync_at timestamptz,
        next_sync_at timestamptz,
        config jsonb DEFAULT '{}'::jsonb,
        field_mappings jsonb DEFAULT '{}'::jsonb,
        template_id uuid,
        template_applied_at timestamptz,
        health_status text DEFAULT 'unknown',
        health_checked_at timestamptz,
        failure_count integer DEFAULT 0,
        last_error text,
        last_error_at timestamptz,
        created_at timestamptz DEFAULT CURRENT_TIMESTAMP NOT NULL,
        updated_at timestamptz DEFAULT CURRENT_TIMESTAMP NOT NULL,
        CONSTRAINT integration_configs_pkey PRIMARY KEY (id),
        CONSTRAINT integration_configs_venue_id_integration_type_unique
            UNIQUE (venue_id, integration_type),
        CONSTRAINT integration_configs_status_check CHECK (
            status IN ('disconnected', 'connecting', 'connected', 'error', 'suspended')
        ),
        CONSTRAINT integration_configs_health_status_check CHECK (
            health_status IN ('healthy', 'degraded', 'unhealthy', 'unknown')
        )
    )
    """,
    "CREATE INDEX integration_configs_venue_id_index ON integration_configs (venue_id)",
    "CREATE INDEX integration_configs_status_index ON integration_configs (status)",
    "CREATE INDEX integration_configs_health_status_index ON integration_configs (health_status)",
    """
    CREATE TABLE oauth_tokens (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        venue_id uuid NOT NULL,
        integration_type varchar(50) NOT NULL,
        encrypted_access_token text NOT NULL,
        encrypted_refresh_token text,
        encryption_key_version integer DEFAULT 1,
        scopes text[],
        token_type varchar(50) DEFAULT 'Bearer',
        expires_at timestamptz,
        refresh_count integer DEFAULT 0,
        last_refreshed_at timestamptz,
        refresh_failed_count integer DEFAULT 0,
        created_by uuid,
        created_ip inet,
        last_used_at timestamptz,
        created_at timestamptz DEFAULT CURRENT_TIMESTAMP,
        CONSTRAINT oauth_tokens_pkey PRIMARY KEY (id),
        CONSTRAINT oauth_tokens_venue_id_integration_type_unique
            UNIQUE (venue_id, integration_type)
    )
    """,
    "CREATE INDEX oauth_tokens_expires_at_index ON oauth_tokens (expires_at)",
    "CREATE INDEX oauth_tokens_venue_id_index ON oauth_tokens (venue_id)",
    """
    CREATE TABLE venue_api_keys (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        venue_id uuid NOT NULL,
        integration_type varchar(50) NOT NULL,
        encrypted_api_key text NOT NULL,
        encrypted_api_secret text,
        key_name varchar(255),
        environment varchar(20) DEFAULT 'production',
        is_valid boolean DEFAULT true,
        last_validated_at timestamptz,
        validation_error text,
        created_at timestamptz DEFAULT CURRENT_TIMESTAMP NOT NULL,
        updated_at timestamptz DEFAULT CURRENT_TIMESTAMP NOT NULL,
        CONSTRAINT venue_api_keys_pkey PRIMARY KEY (id),
        CONSTRAINT venue_api_keys_venue_id_integration_type_environment_unique
            UNIQUE (venue_id, integration_type, environment)
    )
    """,
    """
    CREATE TABLE sync_queue (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        venue_id uuid NOT NULL,
        integration_type varchar(50) NOT NULL,
        operation_type text NOT NULL,
        entity_type varchar(50) NOT NULL,
        entity_id varchar(255),
        payload jsonb NOT NULL,
        idempotency_key varchar(255),
        priority text DEFAULT 'NORMAL',
        status text DEFAULT 'pending',
        attempts integer DEFAULT 0,
        max_attempts integer DEFAULT 10,
        next_retry_at timestamptz,
        queued_at timestamptz DEFAULT CURRENT_TIMESTAMP,
        started_at timestamptz,
        completed_at timestamptz,
        expires_at timestamptz DEFAULT (CURRENT_TIMESTAMP + interval '7 days'),
        last_error text,
        error_count integer DEFAULT 0,
        correlation_id varchar(255),
        CONSTRAINT sync_queue_pkey PRIMARY KEY (id),
        CONSTRAINT sync_queue_idempotency_key_unique UNIQUE (idempotency_key),
        CONSTRAINT sync_queue_operation_type_check CHECK (
            operation_type IN ('create', 'update', 'delete', 'sync', 'reconcile')
        ),
        CONSTRAINT sync_queue_priority_check CHECK (
            priority IN ('CRITICAL', 'HIGH', 'NORMAL', 'LOW')
        ),
        CONSTRAINT sync_queue_status_check CHECK (
            status IN ('pending', 'processing', 'completed', 'failed', 'dead_letter')
        )
    )
    """,
    "CREATE INDEX sync_queue_venue_id_status_index ON sync_queue (venue_id, status)",
    "CREATE INDEX sync_queue_priority_status_index ON sync_queue (priority, status)",
    "CREATE INDEX sync_queue_next_retry_at_index ON sync_queue (next_retry_at)",
    "CREATE INDEX sync_queue_expires_at_index ON sync_queue (expires_at)",
    """
    CREATE TABLE field_mapping_templates (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        name varchar(100) NOT NULL,
        description text,
        venue_type varchar(50),
        integration_type varchar(50) NOT NULL,
        mappings jsonb NOT NULL,
        validation_rules jsonb,
        usage_count integer DEFAULT 0,
        last_used_at timestamptz,
        is_default boolean DEFAULT false,
        is_active boolean DEFAULT true,
        created_at timestamptz DEFAULT CURRENT_TIMESTAMP NOT NULL,
        updated_at timestamptz DEFAULT CURRENT_TIMESTAMP NOT NULL,
        CONSTRAINT field_mapping_templates_pkey PRIMARY KEY (id)
    )
    """,
    "CREATE INDEX field_mapping_templates_venue_type_index ON field_mapping_templates (venue_type)",
    "CREATE INDEX field_mapping_templates_integration_type_index"
    " ON field_mapping_templates (integration_type)",
    "CREATE INDEX field_mapping_templates_is_default_index ON field_mapping_templates (is_default)",
    """
    CREATE TABLE integration_webhooks (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        venue_id uuid,
        integration_type varchar(50) NOT NULL,
        event_type varchar(100) NOT NULL,
        event_id varchar(255),
        headers jsonb,
        payload jsonb NOT NULL,
        signature varchar(500),
        status text DEFAULT 'pending',
        processed_at timestamptz,
        error text,
        retry_count integer DEFAULT 0,
        external_id varchar(255),
        received_at timestamptz DEFAULT CURRENT_TIMESTAMP,
        CONSTRAINT integration_webhooks_pkey PRIMARY KEY (id),
        CONSTRAINT integration_webhooks_integration_type_external_id_unique
            UNIQUE (integration_type, external_id),
        CONSTRAINT integration_webhooks_status_check CHECK (
            status IN ('pending', 'processing', 'processed', 'failed', 'ignored')
        )
    )
    """,
    "CREATE INDEX integration_webhooks_venue_id_status_index"
    " ON integration_webhooks (venue_id, status)",
    "CREATE INDEX integration_webhooks_external_id_index ON integration_webhooks (external_id)",
    "CREATE INDEX integration_webhooks_received_at_index ON integration_webhooks (received_at)",
    """
    CREATE TABLE sync_logs (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        venue_id uuid NOT NULL,
        integration_type varchar(50) NOT NULL,
        sync_id uuid,
        operation varchar(100) NOT NULL,
        entity_type varchar(50),
        entity_count integer,
        status varchar(50) NOT NULL,
        success_count integer DEFAULT 0,
        error_count integer DEFAULT 0,
        skip_count integer DEFAULT 0,
        duration_ms integer,
        api_calls_made integer,
        details jsonb,
        errors jsonb,
        started_at timestamptz NOT NULL,
        completed_at timestamptz,
        CONSTRAINT sync_logs_pkey PRIMARY KEY (id)
    )
    """,
    "CREATE INDEX sync_logs_venue_id_started_at_index ON sync_logs (venue_id, started_at)",
    "CREATE INDEX sync_logs_sync_id_index ON sync_logs (sync_id)",
    """
    CREATE TABLE integration_health (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        venue_id uuid NOT NULL,
        integration_type varchar(50) NOT NULL,
        success_rate numeric(5,2),
        average_sync_time_ms integer,
        last_success_at timestamptz,
        last_failure_at timestamptz,
        sync_count_24h integer DEFAULT 0,
        success_count_24h integer DEFAULT 0,
        failure_count_24h integer DEFAULT 0,
        api_calls_24h integer DEFAULT 0,
        api_quota_remaining integer,
        api_quota_resets_at timestamptz,
        queue_depth integer DEFAULT 0,
        oldest_queue_item_at timestamptz,
        calculated_at timestamptz DEFAULT CURRENT_TIMESTAMP,
        CONSTRAINT integration_health_pkey PRIMARY KEY (id),
        CONSTRAINT integration_health_venue_id_integration_type_unique
            UNIQUE (venue_id, integration_type)
    )
    """,
    "CREATE INDEX integration_health_calculated_at_index ON integration_health (calculated_at)",
    """
    CREATE TABLE integration_costs (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        venue_id uuid NOT NULL,
        integration_type varchar(50) NOT NULL,
        period_start date NOT NULL,
        period_end date NOT NULL,
        api_calls integer DEFAULT 0,
        data_synced_mb numeric(10,2),
        base_cost numeric(10,2),
        overage_cost numeric(10,2),
        total_cost numeric(10,2),
        included_in_plan boolean DEFAULT true,
        billed_to_venue boolean DEFAULT false,
        created_at timestamptz DEFAULT CURRENT_TIMESTAMP,
        CONSTRAINT integration_costs_pkey PRIMARY KEY (id),
        CONSTRAINT integration_costs_venue_id_integration_type_period_start_unique
            UNIQUE (venue_id, integration_type, period_start)
    )
    """,
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    # pgcrypto, if this revision installed it, stays: other objects may use it.
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE IF EXISTS {table}")
