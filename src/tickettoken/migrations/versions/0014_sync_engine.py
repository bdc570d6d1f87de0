"""Additive tables and columns of the sync engine (docs/decisions/integration-sync.md).

Every addition (nothing of earlier revisions is altered or removed):

1. `sync_queue.sync_id uuid`, `sync_queue.lease_owner text`, `sync_queue.lease_expires_at
   timestamptz`: a work item belongs to one sync (the `sync_logs.sync_id` it expands), and a
   worker holds the items it claimed under a lease; an item whose lease lapsed (the worker died)
   returns to `pending`. Index `sync_queue_sync_id_status_index`.
2. `sync_logs.direction varchar(20)`, `sync_logs.stop_requested_at timestamptz`: what the sync
   moves, and the stop route's request (the running sync stops at its next item).
3. Table `integration_synced_records`: the provider's id, object version and the content hash of
   every record already pushed, so a second run of unchanged data writes nothing and an edit
   updates the same object. PK (venue_id, provider, entity_type, local_id).
4. Table `integration_sync_cursors`: per venue, provider and entity type, the moment up to which
   the last successful sync saw every change (incremental syncs read only rows after it).

Revision ID: 0014_sync_engine
Revises: 0013_integration_health
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014_sync_engine"
down_revision: str | None = "0013_integration_health"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = (
    "ALTER TABLE sync_queue ADD COLUMN sync_id uuid",
    "ALTER TABLE sync_queue ADD COLUMN lease_owner text",
    "ALTER TABLE sync_queue ADD COLUMN lease_expires_at timestamptz",
    "CREATE INDEX sync_queue_sync_id_status_index ON sync_queue (sync_id, status)",
    "ALTER TABLE sync_logs ADD COLUMN direction varchar(20)",
    "ALTER TABLE sync_logs ADD COLUMN stop_requested_at timestamptz",
    """
    CREATE TABLE integration_synced_records (
        venue_id uuid NOT NULL,
        provider varchar(50) NOT NULL,
        entity_type varchar(50) NOT NULL,
        local_id varchar(255) NOT NULL,
        remote_id varchar(255) NOT NULL,
        remote_version varchar(255),
        content_hash varchar(64) NOT NULL,
        remote_data jsonb DEFAULT '{}'::jsonb NOT NULL,
        synced_at timestamptz DEFAULT now() NOT NULL,
        CONSTRAINT integration_synced_records_pkey
            PRIMARY KEY (venue_id, provider, entity_type, local_id)
    )
    """,
    """
    CREATE TABLE integration_sync_cursors (
        venue_id uuid NOT NULL,
        provider varchar(50) NOT NULL,
        entity_type varchar(50) NOT NULL,
        cursor_at timestamptz NOT NULL,
        sync_id uuid,
        updated_at timestamptz DEFAULT now() NOT NULL,
        CONSTRAINT integration_sync_cursors_pkey PRIMARY KEY (venue_id, provider, entity_type)
    )
    """,
)

DOWNGRADE = (
    "DROP TABLE IF EXISTS integration_sync_cursors",
    "DROP TABLE IF EXISTS integration_synced_records",
    "ALTER TABLE sync_logs DROP COLUMN IF EXISTS stop_requested_at",
    "ALTER TABLE sync_logs DROP COLUMN IF EXISTS direction",
    "DROP INDEX IF EXISTS sync_queue_sync_id_status_index",
    "ALTER TABLE sync_queue DROP COLUMN IF EXISTS lease_expires_at",
    "ALTER TABLE sync_queue DROP COLUMN IF EXISTS lease_owner",
    "ALTER TABLE sync_queue DROP COLUMN IF EXISTS sync_id",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
