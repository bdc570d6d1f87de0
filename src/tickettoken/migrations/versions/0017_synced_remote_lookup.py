"""Synced records found by the provider's id, for the webhook echo check (issue 10, gap 3).

A provider webhook names the provider's object; before marking a connection due, the webhook
job asks whether that object at that version is what the sync itself wrote (an echo):

- ``(venue_id, provider, remote_id)``: a Square customer by its id (``remote_version`` is then
  compared); the primary key starts with the entity type and local id, so without it every
  synced record of the venue was read;
- a GIN index on ``remote_data -> 'echo'``: QuickBooks objects (customers, items, invoices,
  payments) by their key ``"<entity>:<Id>"`` (the ``?`` operator), whichever record holds them;
  the time kept under it is compared by the job.

Revision ID: 0017_synced_remote_lookup
Revises: 0016_customer_marketing_consent
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017_synced_remote_lookup"
down_revision: str | None = "0016_customer_marketing_consent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = (
    "CREATE INDEX integration_synced_records_remote_index"
    " ON integration_synced_records (venue_id, provider, remote_id)",
    "CREATE INDEX integration_synced_records_echo_index"
    " ON integration_synced_records USING gin ((remote_data -> 'echo'))",
)

DOWNGRADE = (
    "DROP INDEX IF EXISTS integration_synced_records_echo_index",
    "DROP INDEX IF EXISTS integration_synced_records_remote_index",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
