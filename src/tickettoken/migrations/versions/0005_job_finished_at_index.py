"""An index on each job table's ``finished_at`` (rows that finished), for the monitoring windows.

The monitor counts completions and failures of the last minute and the last 10 minutes every
round on every instance. Without this index each count read the whole table, and a job table
keeps 90 days of history (measured: 1.4 s per round for 2 million finished money jobs; with the
index the windows read only the rows of the window).

Revision ID: 0005_job_finished_at_index
Revises: 0004_queue_tables
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005_job_finished_at_index"
down_revision: str | None = "0004_queue_tables"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JOB_TABLES = ("jobs_money", "jobs_communication", "jobs_background")


def upgrade() -> None:
    for table in JOB_TABLES:
        op.execute(
            f"CREATE INDEX {table}_finished_at_index ON {table} (finished_at)"
            " WHERE finished_at IS NOT NULL"
        )


def downgrade() -> None:
    for table in JOB_TABLES:
        op.execute(f"DROP INDEX IF EXISTS {table}_finished_at_index")
