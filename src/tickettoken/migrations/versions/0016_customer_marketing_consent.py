"""A customer's marketing consent gets columns of its own (issue 10, integration part 2).

It lived in ``customers.metadata.marketing_consent`` (with ``marketing_unsubscribed_at`` and
``marketing_consent_source`` beside it), written by the webhook effects and the customer pull
and read by the Mailchimp push: a key anyone could overwrite with any JSON type, and one
nothing declared. Now:

- ``marketing_consent boolean NOT NULL DEFAULT false`` (no consent unless given, as the push
  read a missing key before);
- ``marketing_consent_at`` (when it last changed, if known) and ``marketing_consent_source``
  (who changed it last: ``checkout``, ``mailchimp_webhook``, ``mandrill_webhook``,
  ``provider_sync``...).

Backfill: a boolean (or ``"true"``/``"false"`` text) in the metadata is moved to the column,
``marketing_unsubscribed_at`` to ``marketing_consent_at`` when it is a timestamp, and the three
keys are removed from the metadata. The downgrade puts them back.

Also: ``box_office_sales`` rows may record returns (a Square refund or cancellation that put a
box-office sale's seats back in stock): status ``returned`` (seats given back, how many in
``details.given_back``) or ``return_unmatched`` (no box-office sale of that ticket type left to
give back). The downgrade deletes those rows (the seats stay given back).

Revision ID: 0016_customer_marketing_consent
Revises: 0015_box_office_sales
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016_customer_marketing_consent"
down_revision: str | None = "0015_box_office_sales"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = "'marketing_consent', 'marketing_unsubscribed_at', 'marketing_consent_source'"

UPGRADE = (
    "ALTER TABLE customers ADD COLUMN marketing_consent boolean DEFAULT false NOT NULL,"
    " ADD COLUMN marketing_consent_at timestamptz,"
    " ADD COLUMN marketing_consent_source varchar(50)",
    """
    UPDATE customers SET
        marketing_consent = COALESCE(
            CASE lower(metadata ->> 'marketing_consent')
                WHEN 'true' THEN true WHEN 'false' THEN false END, false),
        marketing_consent_at = CASE
            WHEN metadata ->> 'marketing_unsubscribed_at'
                ~ '^\\d{4}-\\d{2}-\\d{2}[T ]\\d{2}:\\d{2}'
            THEN CAST(metadata ->> 'marketing_unsubscribed_at' AS timestamptz) END,
        marketing_consent_source = left(metadata ->> 'marketing_consent_source', 50),
        metadata = metadata - ARRAY[KEYS]
    WHERE metadata ?| ARRAY[KEYS]
    """.replace("KEYS", KEYS),
    "ALTER TABLE box_office_sales DROP CONSTRAINT box_office_sales_status_check,"
    " ADD CONSTRAINT box_office_sales_status_check"
    " CHECK (status IN ('applied', 'conflict', 'returned', 'return_unmatched'))",
)

DOWNGRADE = (
    "DELETE FROM box_office_sales WHERE status IN ('returned', 'return_unmatched')",
    "ALTER TABLE box_office_sales DROP CONSTRAINT box_office_sales_status_check,"
    " ADD CONSTRAINT box_office_sales_status_check CHECK (status IN ('applied', 'conflict'))",
    """
    UPDATE customers SET metadata = COALESCE(metadata, '{}'::jsonb)
        || jsonb_build_object('marketing_consent', marketing_consent)
        || CASE WHEN marketing_consent_source IS NULL THEN '{}'::jsonb
           ELSE jsonb_build_object('marketing_consent_source', marketing_consent_source) END
        || CASE WHEN marketing_consent_at IS NULL OR marketing_consent THEN '{}'::jsonb
           ELSE jsonb_build_object('marketing_unsubscribed_at', marketing_consent_at) END
    WHERE marketing_consent OR marketing_consent_at IS NOT NULL
        OR marketing_consent_source IS NOT NULL
    """,
    "ALTER TABLE customers DROP COLUMN marketing_consent_source,"
    " DROP COLUMN marketing_consent_at, DROP COLUMN marketing_consent",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
