"""Money moves only for records the platform created (issue 7).

- ``orders.payment_job_id``: the ``payment-process`` job the confirmation enqueued with the order;
  only that job may charge the order and only its result is applied (backfilled from the job the
  platform enqueued under the order's derived key).
- ``order_refunds``: one row per refund the platform queued (amount, status pending → succeeded or
  failed, the ``refund-process`` job that carries it, the provider's refund id). An order counts a
  refund in ``refunded_amount`` only once the provider has confirmed it.
- ``payouts``: one row per venue payout the platform created; the ``payout-process`` job pays the
  row's amount to the row's destination, never what a job payload says.

Revision ID: 0007_payouts_and_money_guards
Revises: 0006_identity_hardening
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_payouts_and_money_guards"
down_revision: str | None = "0006_identity_hardening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMPS = """
        created_at timestamptz DEFAULT now() NOT NULL,
        updated_at timestamptz DEFAULT now() NOT NULL"""

STATEMENTS = (
    "ALTER TABLE orders ADD COLUMN payment_job_id uuid",
    "CREATE INDEX orders_payment_job_id_index ON orders (payment_job_id)",
    """
    UPDATE orders SET payment_job_id = j.job_uuid
    FROM jobs_money j
    WHERE j.type = 'payment-process' AND j.idempotency_key = 'payment:order:' || orders.id::text
    """,
    f"""
    CREATE TABLE order_refunds (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        order_id uuid NOT NULL,
        amount numeric(10,2) NOT NULL,
        currency char(3) NOT NULL,
        reason text,
        status text DEFAULT 'pending' NOT NULL,
        job_id uuid,
        provider_refund_id varchar(255),
        error text,
        confirmed_at timestamptz,{TIMESTAMPS},
        CONSTRAINT order_refunds_pkey PRIMARY KEY (id),
        CONSTRAINT order_refunds_order_id_foreign FOREIGN KEY (order_id) REFERENCES orders (id),
        CONSTRAINT order_refunds_status_check CHECK (
            status IN ('pending', 'succeeded', 'failed')
        ),
        CONSTRAINT order_refunds_amount_check CHECK (amount > 0)
    )
    """,
    "CREATE INDEX order_refunds_order_id_status_index ON order_refunds (order_id, status)",
    f"""
    CREATE TABLE payouts (
        id uuid DEFAULT gen_random_uuid() NOT NULL,
        venue_id uuid NOT NULL,
        amount numeric(12,2) NOT NULL,
        currency char(3) DEFAULT 'USD' NOT NULL,
        destination varchar(255) NOT NULL,
        status text DEFAULT 'pending' NOT NULL,
        job_id uuid,
        provider_payout_id varchar(255),
        error text,
        paid_at timestamptz,
        failed_at timestamptz,{TIMESTAMPS},
        CONSTRAINT payouts_pkey PRIMARY KEY (id),
        CONSTRAINT payouts_venue_id_foreign FOREIGN KEY (venue_id) REFERENCES venues (id),
        CONSTRAINT payouts_status_check CHECK (status IN ('pending', 'paid', 'failed')),
        CONSTRAINT payouts_amount_check CHECK (amount > 0)
    )
    """,
    "CREATE INDEX payouts_venue_id_created_at_index ON payouts (venue_id, created_at)",
    *(
        f"CREATE TRIGGER {table}_set_updated_at BEFORE UPDATE ON {table}"
        " FOR EACH ROW EXECUTE FUNCTION tickettoken_set_updated_at()"
        for table in ("order_refunds", "payouts")
    ),
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS payouts")
    op.execute("DROP TABLE IF EXISTS order_refunds")
    op.execute("DROP INDEX IF EXISTS orders_payment_job_id_index")
    op.execute("ALTER TABLE orders DROP COLUMN IF EXISTS payment_job_id")
