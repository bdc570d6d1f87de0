"""Additive integration columns for the token vault and the refresh lease.

Every addition (nothing of revisions 0001/0002 is altered or removed):

1. `venue_api_keys.encryption_key_version integer NOT NULL DEFAULT 1`: the vault key version of
   the row's ciphertexts (`oauth_tokens` has had the column since 0001). Every ciphertext also
   carries its version as a `v<N>:` prefix; the column lets `tickettoken vault rotate` find the
   rows still on an older key with an index-free `WHERE encryption_key_version < N`.
2. `oauth_tokens.refresh_expires_at timestamptz`: when the refresh token itself expires
   (QuickBooks answers `x_refresh_token_expires_in`).
3. `oauth_tokens.refresh_generation bigint NOT NULL DEFAULT 0`: the fencing token, incremented by
   every write of a new token pair; a refresh writes only if the generation it read is current.
4. `oauth_tokens.refresh_lease_owner uuid` and `oauth_tokens.refresh_lease_expires_at
   timestamptz`: the one refresh in flight per connection, across instances and workers.

Revision ID: 0011_integration_vault
Revises: 0010_inventory_hold
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011_integration_vault"
down_revision: str | None = "0010_inventory_hold"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = (
    "ALTER TABLE venue_api_keys ADD COLUMN encryption_key_version integer DEFAULT 1 NOT NULL",
    "ALTER TABLE oauth_tokens ADD COLUMN refresh_expires_at timestamptz",
    "ALTER TABLE oauth_tokens ADD COLUMN refresh_generation bigint DEFAULT 0 NOT NULL",
    "ALTER TABLE oauth_tokens ADD COLUMN refresh_lease_owner uuid",
    "ALTER TABLE oauth_tokens ADD COLUMN refresh_lease_expires_at timestamptz",
)

DOWNGRADE = (
    "ALTER TABLE oauth_tokens DROP COLUMN IF EXISTS refresh_lease_expires_at",
    "ALTER TABLE oauth_tokens DROP COLUMN IF EXISTS refresh_lease_owner",
    "ALTER TABLE oauth_tokens DROP COLUMN IF EXISTS refresh_generation",
    "ALTER TABLE oauth_tokens DROP COLUMN IF EXISTS refresh_expires_at",
    "ALTER TABLE venue_api_keys DROP COLUMN IF EXISTS encryption_key_version",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
