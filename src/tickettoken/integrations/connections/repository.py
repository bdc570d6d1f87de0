"""Reads and writes of the connection tables; secrets are sealed here and nowhere else.

Every write of tokens goes through ``store_grant`` (an upsert that bumps the fencing generation
and clears any refresh lease) or the refresh's fenced update (credentials.py); API keys through
``store_api_key``. Configs are upserted by (venue, provider), the table's unique key.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.integrations.models import IntegrationConfig, OAuthToken, VenueApiKey
from tickettoken.integrations.providers import TokenGrant
from tickettoken.integrations.vault.sealed import seal, seal_optional, unseal
from tickettoken.kit.vault import Vault

API_KEY_ENVIRONMENT = "production"  # the table's default; one stored key per venue and provider


async def get_config(
    session: AsyncSession, venue_id: uuid.UUID, provider: str
) -> IntegrationConfig | None:
    # Read again even if the session holds the row: a refresh writes on its own connection.
    found: IntegrationConfig | None = await session.scalar(
        select(IntegrationConfig)
        .where(
            IntegrationConfig.venue_id == venue_id, IntegrationConfig.integration_type == provider
        )
        .execution_options(populate_existing=True)
    )
    return found


async def list_configs(session: AsyncSession, venue_id: uuid.UUID) -> list[IntegrationConfig]:
    rows = await session.scalars(
        select(IntegrationConfig)
        .where(IntegrationConfig.venue_id == venue_id)
        .order_by(IntegrationConfig.integration_type)
    )
    return list(rows)


async def get_token(session: AsyncSession, venue_id: uuid.UUID, provider: str) -> OAuthToken | None:
    found: OAuthToken | None = await session.scalar(
        select(OAuthToken)
        .where(OAuthToken.venue_id == venue_id, OAuthToken.integration_type == provider)
        .execution_options(populate_existing=True)
    )
    return found


async def get_api_key(
    session: AsyncSession, venue_id: uuid.UUID, provider: str
) -> VenueApiKey | None:
    found: VenueApiKey | None = await session.scalar(
        select(VenueApiKey).where(
            VenueApiKey.venue_id == venue_id,
            VenueApiKey.integration_type == provider,
            VenueApiKey.environment == API_KEY_ENVIRONMENT,
        )
    )
    return found


async def upsert_config(
    session: AsyncSession, venue_id: uuid.UUID, provider: str, **values: Any
) -> IntegrationConfig:
    """Insert or update the (venue, provider) config with ``values``; returns the row."""
    values = {**values, "updated_at": func.now()}
    statement = (
        insert(IntegrationConfig)
        .values(venue_id=venue_id, integration_type=provider, **values)
        .on_conflict_do_update(
            constraint="integration_configs_venue_id_integration_type_unique", set_=values
        )
        .returning(IntegrationConfig)
        .execution_options(populate_existing=True)
    )
    row: IntegrationConfig = (await session.scalars(statement)).one()
    return row


async def store_grant(
    session: AsyncSession,
    vault: Vault,
    venue_id: uuid.UUID,
    provider: str,
    grant: TokenGrant,
    *,
    created_by: uuid.UUID | None,
    created_ip: str | None,
) -> OAuthToken:
    """The tokens of a completed OAuth flow, replacing any earlier ones of the connection."""
    table = "oauth_tokens"
    values: dict[str, Any] = {
        "encrypted_access_token": seal(
            vault, table, "encrypted_access_token", venue_id, provider, grant.access_token
        ),
        "encrypted_refresh_token": seal_optional(
            vault, table, "encrypted_refresh_token", venue_id, provider, grant.refresh_token
        ),
        "encryption_key_version": vault.current_version,
        "scopes": list(grant.scopes),
        "token_type": "Bearer",
        "expires_at": grant.expires_at,
        "refresh_expires_at": grant.refresh_expires_at,
        "provider_data": dict(grant.extras),
        "refresh_failed_count": 0,
        "refresh_lease_owner": None,
        "refresh_lease_expires_at": None,
        "created_by": created_by,
        "created_ip": created_ip,
        "updated_at": func.now(),
    }
    statement = (
        insert(OAuthToken)
        .values(venue_id=venue_id, integration_type=provider, **values)
        .on_conflict_do_update(
            constraint="oauth_tokens_venue_id_integration_type_unique",
            set_={**values, "refresh_generation": OAuthToken.refresh_generation + 1},
        )
        .returning(OAuthToken)
        .execution_options(populate_existing=True)
    )
    row: OAuthToken = (await session.scalars(statement)).one()
    return row


async def store_api_key(
    session: AsyncSession,
    vault: Vault,
    venue_id: uuid.UUID,
    provider: str,
    *,
    api_key: str,
    api_secret: str | None,
    key_name: str | None,
    validated_at: datetime,
) -> VenueApiKey:
    table = "venue_api_keys"
    values: dict[str, Any] = {
        "encrypted_api_key": seal(vault, table, "encrypted_api_key", venue_id, provider, api_key),
        "encrypted_api_secret": seal_optional(
            vault, table, "encrypted_api_secret", venue_id, provider, api_secret
        ),
        "encryption_key_version": vault.current_version,
        "key_name": key_name,
        "is_valid": True,
        "last_validated_at": validated_at,
        "validation_error": None,
        "updated_at": func.now(),
    }
    statement = (
        insert(VenueApiKey)
        .values(
            venue_id=venue_id,
            integration_type=provider,
            environment=API_KEY_ENVIRONMENT,
            **values,
        )
        .on_conflict_do_update(
            constraint="venue_api_keys_venue_id_integration_type_environment_unique", set_=values
        )
        .returning(VenueApiKey)
        .execution_options(populate_existing=True)
    )
    row: VenueApiKey = (await session.scalars(statement)).one()
    return row


async def forget_secrets(session: AsyncSession, venue_id: uuid.UUID, provider: str) -> None:
    """Delete the connection's tokens and keys: a disconnected venue keeps no secret."""
    await session.execute(
        delete(OAuthToken).where(
            OAuthToken.venue_id == venue_id, OAuthToken.integration_type == provider
        )
    )
    await forget_api_key(session, venue_id, provider)


async def forget_api_key(session: AsyncSession, venue_id: uuid.UUID, provider: str) -> None:
    await session.execute(
        delete(VenueApiKey).where(
            VenueApiKey.venue_id == venue_id, VenueApiKey.integration_type == provider
        )
    )


def api_key_plaintext(vault: Vault, row: VenueApiKey) -> str:
    return unseal(
        vault,
        "venue_api_keys",
        "encrypted_api_key",
        row.venue_id,
        row.integration_type,
        row.encrypted_api_key,
    )


def public_extras(data: Mapping[str, Any] | None) -> dict[str, str]:
    """Provider extras as strings (realm_id, merchant_id, dc, api_endpoint, stripe_user_id)."""
    return {str(k): str(v) for k, v in (data or {}).items() if v is not None}
