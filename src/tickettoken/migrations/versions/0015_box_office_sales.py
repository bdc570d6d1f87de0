"""Box-office sales from Square (issue 10 point 3).

1. Table ``integration_inventory_counts`` (integration service): the last Square inventory
   count seen per venue, catalog variation, location and state, with Square's
   ``calculated_at``, so a box-office sale is the decrease since that count and a repeated or
   out-of-order delivery (an older ``calculated_at``) counts nothing.
2. Table ``box_office_sales`` (event service): one row per box-office sale job, unique by its
   idempotency key (the webhook delivery and variation), written in the transaction that takes
   the seats: ``applied`` (the seats were taken) or ``conflict`` (fewer seats were left than
   Square sold: nothing taken, the details kept for the venue to settle).

Revision ID: 0015_box_office_sales
Revises: 0014_sync_engine
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015_box_office_sales"
down_revision: str | None = "0014_sync_engine"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = (
    """
    CREATE TABLE integration_inventory_counts (
        venue_id uuid NOT NULL,
        provider varchar(50) NOT NULL,
        catalog_object_id varchar(255) NOT NULL,
        location_id varchar(255) NOT NULL,
        state varchar(50) NOT NULL,
        quantity numeric NOT NULL,
        calculated_at timestamptz NOT NULL,
        updated_at timestamptz DEFAULT now() NOT NULL,
        CONSTRAINT integration_inventory_counts_pkey
            PRIMARY KEY (venue_id, provider, catalog_object_id, location_id, state)
    )
    """,
    """
    CREATE TABLE box_office_sales (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        idempotency_key varchar(255) NOT NULL,
        venue_id uuid NOT NULL,
        ticket_type_id uuid NOT NULL,
        quantity integer NOT NULL,
        status varchar(20) NOT NULL,
        source varchar(50) NOT NULL,
        details jsonb DEFAULT '{}'::jsonb NOT NULL,
        created_at timestamptz DEFAULT now() NOT NULL,
        CONSTRAINT box_office_sales_pkey PRIMARY KEY (id),
        CONSTRAINT box_office_sales_idempotency_key_key UNIQUE (idempotency_key),
        CONSTRAINT box_office_sales_quantity_check CHECK (quantity > 0),
        CONSTRAINT box_office_sales_status_check CHECK (status IN ('applied', 'conflict')),
        CONSTRAINT box_office_sales_ticket_type_id_foreign FOREIGN KEY (ticket_type_id)
            REFERENCES ticket_types (id) ON DELETE CASCADE
    )
    """,
    "CREATE INDEX box_office_sales_ticket_type_id_index ON box_office_sales (ticket_type_id)",
    "CREATE INDEX box_office_sales_venue_status_index ON box_office_sales (venue_id, status)",
)

DOWNGRADE = (
    "DROP TABLE IF EXISTS box_office_sales",
    "DROP TABLE IF EXISTS integration_inventory_counts",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
