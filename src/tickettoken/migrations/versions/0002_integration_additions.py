"""Additive changes to the integration schema that the code needs and seed 001 never created.

Every addition (nothing of revision 0001 is altered or removed):

1. `oauth_tokens.updated_at timestamptz NOT NULL DEFAULT now()`: the original code wrote it on
   every token refresh, but the migration never created it.
2. `oauth_tokens.provider_data jsonb NOT NULL DEFAULT '{}'`: provider extras returned by the OAuth
   callback that later calls need (QuickBooks `realmId`, Square `merchant_id`, Mailchimp
   data-centre `dc` / `api_endpoint`, Stripe `stripe_user_id`).
3. Table `oauth_states`: single-use OAuth state shared by every instance (the original kept it in
   process memory). `state` is a hash of the random state sent to the browser (the raw value is
   never stored); `used_at` is set by the one callback that consumes it
   (`UPDATE ... SET used_at = now() WHERE state = $1 AND used_at IS NULL AND expires_at > now()`).
   Columns: state text PK, venue_id uuid NOT NULL, integration_type varchar(50) NOT NULL,
   user_id text NOT NULL (JWT sub of the user who started the flow), redirect_after text,
   code_verifier text (PKCE), created_at timestamptz NOT NULL DEFAULT now(),
   expires_at timestamptz NOT NULL, used_at timestamptz; index `oauth_states_expires_at_index`
   for the clean-up of expired states.

Revision ID: 0002_integration_additions
Revises: 0001_integration_tables
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_integration_additions"
down_revision: str | None = "0001_integration_tables"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = (
    "ALTER TABLE oauth_tokens ADD COLUMN updated_at timestamptz DEFAULT now() NOT NULL",
    "ALTER TABLE oauth_tokens ADD COLUMN provider_data jsonb DEFAULT '{}'::jsonb NOT NULL",
    """
    CREATE TABLE oauth_states (
        state text NOT NULL,
        venue_id uuid NOT NULL,
        integration_type varchar(50) NOT NULL,
        user_id text NOT NULL,
        redirect_after text,
        code_verifier text,
        created_at timestamptz DEFAULT now() NOT NULL,
        expires_at timestamptz NOT NULL,
        used_at timestamptz,
        CONSTRAINT oauth_states_pkey PRIMARY KEY (state)
    )
    """,
    "CREATE INDEX oauth_states_expires_at_index ON oauth_states (expires_at)",
)

DOWNGRADE = (
    "DROP TABLE IF EXISTS oauth_states",
    "ALTER TABLE oauth_tokens DROP COLUMN IF EXISTS provider_data",
    "ALTER TABLE oauth_tokens DROP COLUMN IF EXISTS updated_at",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
