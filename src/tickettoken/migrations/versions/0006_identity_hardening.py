"""Customer records of user accounts apart from email-only records; revoked dashboard sessions.

- ``customers``: an email was unique per venue over every record, so a signed-in customer who
  typed a box-office buyer's email was attached to that buyer's record (account takeover, issue
  7). The email is now unique only among email-only records (``user_id IS NULL``, the box
  office's); a user account has its own record per venue, keyed by its subject, whatever email
  it types.
- ``queue_dashboard_revoked_sessions``: the queue dashboard's signed-out sessions until their
  cookie would have expired, so a replayed cookie is refused by every queue-service instance.

Revision ID: 0006_identity_hardening
Revises: 0005_job_finished_at_index
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006_identity_hardening"
down_revision: str | None = "0005_job_finished_at_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DROP INDEX customers_venue_id_email_unique")
    op.execute(
        "CREATE UNIQUE INDEX customers_venue_id_email_unique ON customers (venue_id, lower(email))"
        " WHERE user_id IS NULL"
    )
    op.execute(
        """
        CREATE TABLE queue_dashboard_revoked_sessions (
            session_id text PRIMARY KEY,
            expires_at timestamptz NOT NULL
        )
        """
    )
    op.execute(
        "CREATE INDEX queue_dashboard_revoked_sessions_expires_at_index"
        " ON queue_dashboard_revoked_sessions (expires_at)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE queue_dashboard_revoked_sessions")
    # Fails if two records of one venue now share an email, as the old rule forbids.
    op.execute("DROP INDEX customers_venue_id_email_unique")
    op.execute(
        "CREATE UNIQUE INDEX customers_venue_id_email_unique ON customers (venue_id, lower(email))"
    )
