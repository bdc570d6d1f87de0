"""What a provider call needs, refreshed first when the access token is about to expire, with at
most one refresh in flight per connection across every instance and worker.

The refresh is a lease on the token row (docs/decisions/integration-connections.md):

1. take the lease: ``UPDATE oauth_tokens SET refresh_lease_owner = <me>, refresh_lease_expires_at
   = now() + LEASE`` where nobody holds an unexpired one, in its own committed transaction, so
   every other process sees it; the statement also returns the refresh token and the fencing
   ``refresh_generation`` as they are now;
2. call the provider (no database transaction is open meanwhile);
3. write the new access token *and* the rotated refresh token in one statement that succeeds only
   while the lease is still ours and the generation unchanged (the fencing check: a refresh slower
   than its lease, overtaken by another, cannot overwrite the newer pair); it increments the
   generation and clears the lease.

Everyone else waits for the generation to move (or the lease to lapse) and then reads the
stored token. A refresh whose answer is lost (the process dies after the provider answered)
leaves the old refresh token stored; the lease lapses and the next use refreshes again with it,
which QuickBooks accepts for a while after rotation and answers with the newest token of its
chain. ``invalid_grant`` marks the connection ``error`` with the reason and stops: nothing
retries a refused grant until the venue connects again.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tickettoken.integrations.connections.clients import ProviderClients
from tickettoken.integrations.connections.errors import (
    ConnectionBroken,
    NotConnected,
    ProviderUnavailable,
)
from tickettoken.integrations.connections.repository import api_key_plaintext, public_extras
from tickettoken.integrations.models import IntegrationConfig, OAuthToken, VenueApiKey
from tickettoken.integrations.providers import Credentials, OAuthRefused, ProviderError
from tickettoken.integrations.vault.sealed import seal, unseal, unseal_optional
from tickettoken.kit.db import Database
from tickettoken.kit.vault import Vault, VaultError, vault_for

log = structlog.get_logger(__name__)

# A lease outlives the provider call it covers (the clients time out at 30 s); a process that
# dies holding one delays the connection's next refresh by at most this long.
LEASE = timedelta(seconds=45)
# On use, a token this close to its expiry is refreshed first.
USE_MARGIN = timedelta(seconds=60)
WAIT_STEP = 0.05
WAIT_LIMIT = LEASE.total_seconds() + 5

_default_clients: ProviderClients | None = None


def set_default_clients(clients: ProviderClients | None) -> None:
    """The clients ``access_credentials`` uses when given none (the application's)."""
    global _default_clients
    _default_clients = clients


@dataclass(frozen=True)
class _TokenState:
    id: uuid.UUID
    generation: int
    expires_at: datetime | None
    has_refresh_token: bool
    lease_held: bool


def _engine(db: AsyncSession | AsyncEngine | Database) -> AsyncEngine:
    if isinstance(db, Database):
        return db.engine
    if isinstance(db, AsyncEngine):
        return db
    bind = db.bind
    if not isinstance(bind, AsyncEngine):
        raise TypeError("the session is not bound to an AsyncEngine")
    return bind


async def access_credentials(
    db: AsyncSession | AsyncEngine | Database,
    venue_id: uuid.UUID,
    provider: str,
    *,
    clients: ProviderClients | None = None,
    force_refresh: bool = False,
) -> Credentials:
    """The connection's credentials for a live call, refreshing the access token first when it
    expires within a minute (or when ``force_refresh``).

    Refresh and lease use their own short transactions on the engine (committed, so every
    instance sees them), never the caller's: a caller inside a request transaction keeps it.
    ``NotConnected`` (404) without a usable connection, ``ConnectionBroken`` (409) once the
    provider refused the grant, ``ProviderUnavailable`` (503) when it could not answer.
    """
    owned = clients is None and _default_clients is None
    if clients is None:
        if _default_clients is None:
            from tickettoken.kit.settings import get_settings

            clients = ProviderClients(get_settings())
        else:
            clients = _default_clients
    try:
        return await _credentials(_engine(db), venue_id, provider, clients, force_refresh)
    except VaultError as exc:
        # A key removed before `vault rotate` finished, or a tampered row: an operator's problem.
        log.error("vault_cannot_decrypt", provider=provider, venue_id=str(venue_id), why=str(exc))
        raise ProviderUnavailable(
            "The stored credentials cannot be decrypted with the configured keys", retry_after=60
        ) from exc
    finally:
        if owned:
            await clients.aclose()


async def _credentials(
    engine: AsyncEngine,
    venue_id: uuid.UUID,
    provider: str,
    clients: ProviderClients,
    force_refresh: bool,
) -> Credentials:
    vault = vault_for(clients.settings)
    config, token, api_key = await _load(engine, venue_id, provider)
    if config is not None and config.status == "error":
        raise ConnectionBroken(_broken_message(provider, config.last_error))
    if config is None or config.status != "connected":
        raise NotConnected("Integration not connected")
    if token is None:
        if api_key is None:
            raise NotConnected("Integration not connected")
        return Credentials(
            api_key=api_key_plaintext(vault, api_key),
            extras=public_extras((config.config or {}).get("account")),
            venue_id=str(venue_id),
        )
    if force_refresh or _due(token.expires_at):
        if token.encrypted_refresh_token is None:
            if not force_refresh and token.expires_at is not None and token.expires_at < _now():
                raise ConnectionBroken(_broken_message(provider, "the access token expired"))
        else:
            seen = token.refresh_generation if force_refresh else None
            token = await _refresh(engine, vault, clients, token, seen)
    return _oauth_credentials(vault, token)


async def refresh_now(
    db: AsyncSession | AsyncEngine | Database,
    venue_id: uuid.UUID,
    provider: str,
    *,
    clients: ProviderClients,
) -> Credentials:
    """Refresh the stored token now, whatever the connection's status (a reconnect);
    ``ConnectionBroken`` when the provider refuses the refresh token."""
    engine = _engine(db)
    vault = vault_for(clients.settings)
    async with AsyncSession(engine, expire_on_commit=False) as session:
        token = await _token(session, venue_id, provider)
        await session.commit()
    if token is None or token.encrypted_refresh_token is None:
        raise NotConnected("No OAuth connection to refresh")
    token = await _refresh(
        engine, vault, clients, token, token.refresh_generation, require_connected=False
    )
    return _oauth_credentials(vault, token)


def _now() -> datetime:
    return datetime.now(UTC)


def _due(expires_at: datetime | None, margin: timedelta = USE_MARGIN) -> bool:
    return expires_at is not None and expires_at <= _now() + margin


def _broken_message(provider: str, reason: str | None) -> str:
    return f"The {provider} integration must be reconnected ({reason or 'the grant was refused'})"


def _oauth_credentials(vault: Vault, token: OAuthToken) -> Credentials:
    access = unseal(
        vault,
        "oauth_tokens",
        "encrypted_access_token",
        token.venue_id,
        token.integration_type,
        token.encrypted_access_token,
    )
    return Credentials(
        access_token=access,
        extras=public_extras(token.provider_data),
        venue_id=str(token.venue_id),
    )


async def _load(
    engine: AsyncEngine, venue_id: uuid.UUID, provider: str
) -> tuple[IntegrationConfig | None, OAuthToken | None, VenueApiKey | None]:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        config = await session.scalar(
            select(IntegrationConfig).where(
                IntegrationConfig.venue_id == venue_id,
                IntegrationConfig.integration_type == provider,
            )
        )
        token = await _token(session, venue_id, provider)
        api_key = None
        if token is None:
            api_key = await session.scalar(
                select(VenueApiKey).where(
                    VenueApiKey.venue_id == venue_id, VenueApiKey.integration_type == provider
                )
            )
        await session.commit()
    return config, token, api_key


async def _token(session: AsyncSession, venue_id: uuid.UUID, provider: str) -> OAuthToken | None:
    found: OAuthToken | None = await session.scalar(
        select(OAuthToken)
        .where(OAuthToken.venue_id == venue_id, OAuthToken.integration_type == provider)
        .execution_options(populate_existing=True)
    )
    return found


async def _reload(
    engine: AsyncEngine, token: OAuthToken, *, require_connected: bool = True
) -> OAuthToken:
    """The stored token again; stops a waiter once another process found the grant refused."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        found = await _token(session, token.venue_id, token.integration_type)
        config = await session.scalar(
            select(IntegrationConfig).where(
                IntegrationConfig.venue_id == token.venue_id,
                IntegrationConfig.integration_type == token.integration_type,
            )
        )
        await session.commit()
    if found is None:
        raise NotConnected("Integration not connected")
    if not require_connected:
        if found.refresh_failed_count and config is not None and config.status == "error":
            raise ConnectionBroken(_broken_message(token.integration_type, config.last_error))
        return found
    if config is not None and config.status == "error":
        raise ConnectionBroken(_broken_message(token.integration_type, config.last_error))
    if config is None or config.status != "connected":
        raise NotConnected("Integration not connected")
    return found


async def _refresh(
    engine: AsyncEngine,
    vault: Vault,
    clients: ProviderClients,
    token: OAuthToken,
    forced_generation: int | None,
    *,
    require_connected: bool = True,
) -> OAuthToken:
    """The token after one refresh (ours or another process's). ``forced_generation``: refresh
    even a fresh token, unless someone already replaced generation ``forced_generation``."""
    deadline = time.monotonic() + WAIT_LIMIT
    owner = uuid.uuid4()
    while True:
        if forced_generation is None:
            if not _due(token.expires_at):
                return token
        elif token.refresh_generation != forced_generation:
            return token
        leased = await _take_lease(engine, token.id, owner)
        if leased is not None:
            token = leased
            # Someone may have refreshed between our read and our lease.
            fresh = (
                not _due(token.expires_at)
                if forced_generation is None
                else token.refresh_generation != forced_generation
            )
            if fresh:
                await _release_lease(engine, token.id, owner)
                return token
            written = await _refresh_under_lease(engine, vault, clients, token, owner)
            if written is not None:
                return written
            # Fenced out: a newer pair was written meanwhile; use it.
        elif time.monotonic() > deadline:
            raise ProviderUnavailable("A token refresh of this integration is taking too long")
        else:
            await asyncio.sleep(WAIT_STEP)
        token = await _reload(engine, token, require_connected=require_connected)


async def _take_lease(
    engine: AsyncEngine, token_id: uuid.UUID, owner: uuid.UUID
) -> OAuthToken | None:
    statement = (
        update(OAuthToken)
        .where(
            OAuthToken.id == token_id,
            (OAuthToken.refresh_lease_owner.is_(None))
            | (OAuthToken.refresh_lease_expires_at < func.now()),
        )
        .values(
            refresh_lease_owner=owner,
            refresh_lease_expires_at=func.now() + LEASE,
        )
        .returning(OAuthToken)
        .execution_options(populate_existing=True, synchronize_session=False)
    )
    async with AsyncSession(engine, expire_on_commit=False) as session:
        row = (await session.scalars(statement)).one_or_none()
        await session.commit()
    return row


async def _release_lease(
    engine: AsyncEngine, token_id: uuid.UUID, owner: uuid.UUID, **also: Any
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(OAuthToken)
            .where(OAuthToken.id == token_id, OAuthToken.refresh_lease_owner == owner)
            .values(refresh_lease_owner=None, refresh_lease_expires_at=None, **also)
        )


async def _refresh_under_lease(
    engine: AsyncEngine,
    vault: Vault,
    clients: ProviderClients,
    token: OAuthToken,
    owner: uuid.UUID,
) -> OAuthToken | None:
    """Refresh with the lease held; the written row, or None when fenced out."""
    provider = token.integration_type
    refresh_token = unseal_optional(
        vault,
        "oauth_tokens",
        "encrypted_refresh_token",
        token.venue_id,
        provider,
        token.encrypted_refresh_token,
    )
    assert refresh_token is not None
    client = await clients.get(provider)
    try:
        grant = await client.refresh(refresh_token=refresh_token)
    except OAuthRefused as exc:
        if exc.error == "invalid_grant":
            await _mark_broken(engine, token, owner, exc)
            raise ConnectionBroken(_broken_message(provider, _refusal_reason(exc))) from exc
        await _release_lease(
            engine, token.id, owner, refresh_failed_count=OAuthToken.refresh_failed_count + 1
        )
        raise ProviderUnavailable(f"{provider} refused the token refresh ({exc.error})") from exc
    except ProviderError as exc:
        await _release_lease(
            engine, token.id, owner, refresh_failed_count=OAuthToken.refresh_failed_count + 1
        )
        log.warning(
            "oauth_refresh_failed",
            provider=provider,
            venue_id=str(token.venue_id),
            status=exc.status,
            code=exc.code,
        )
        raise ProviderUnavailable(f"{provider} could not refresh the token now") from exc
    except BaseException:
        await asyncio.shield(_release_lease(engine, token.id, owner))
        raise
    table = "oauth_tokens"
    new_refresh = grant.refresh_token or refresh_token  # some providers keep the same one
    statement = (
        update(OAuthToken)
        .where(
            OAuthToken.id == token.id,
            OAuthToken.refresh_lease_owner == owner,
            OAuthToken.refresh_generation == token.refresh_generation,
        )
        .values(
            encrypted_access_token=seal(
                vault, table, "encrypted_access_token", token.venue_id, provider, grant.access_token
            ),
            encrypted_refresh_token=seal(
                vault, table, "encrypted_refresh_token", token.venue_id, provider, new_refresh
            ),
            encryption_key_version=vault.current_version,
            expires_at=grant.expires_at,
            refresh_expires_at=grant.refresh_expires_at or token.refresh_expires_at,
            scopes=list(grant.scopes) or token.scopes,
            provider_data={**(token.provider_data or {}), **grant.extras},
            refresh_count=func.coalesce(OAuthToken.refresh_count, 0) + 1,
            refresh_failed_count=0,
            last_refreshed_at=func.now(),
            updated_at=func.now(),
            refresh_generation=OAuthToken.refresh_generation + 1,
            refresh_lease_owner=None,
            refresh_lease_expires_at=None,
        )
        .returning(OAuthToken)
        .execution_options(populate_existing=True, synchronize_session=False)
    )
    async with AsyncSession(engine, expire_on_commit=False) as session:
        row = (await session.scalars(statement)).one_or_none()
        await session.commit()
    if row is None:
        log.warning("oauth_refresh_fenced_out", provider=provider, venue_id=str(token.venue_id))
    else:
        log.info("oauth_token_refreshed", provider=provider, venue_id=str(token.venue_id))
    return row


def _refusal_reason(exc: OAuthRefused) -> str:
    return f"the provider refused the refresh token: {exc.error}"


async def _mark_broken(
    engine: AsyncEngine, token: OAuthToken, owner: uuid.UUID, exc: OAuthRefused
) -> None:
    """``invalid_grant``: the connection is ``error`` with the reason, and stays so."""
    reason = _refusal_reason(exc)
    async with engine.begin() as conn:
        await conn.execute(
            update(OAuthToken)
            .where(OAuthToken.id == token.id, OAuthToken.refresh_lease_owner == owner)
            .values(
                refresh_lease_owner=None,
                refresh_lease_expires_at=None,
                refresh_failed_count=func.coalesce(OAuthToken.refresh_failed_count, 0) + 1,
            )
        )
        await conn.execute(
            update(IntegrationConfig)
            .where(
                IntegrationConfig.venue_id == token.venue_id,
                IntegrationConfig.integration_type == token.integration_type,
            )
            .values(
                status="error",
                last_error=reason,
                last_error_at=func.now(),
                failure_count=func.coalesce(IntegrationConfig.failure_count, 0) + 1,
                updated_at=func.now(),
            )
        )
    log.warning(
        "oauth_grant_refused",
        provider=token.integration_type,
        venue_id=str(token.venue_id),
        error=exc.error,
    )


async def refresh_due_tokens(
    engine: AsyncEngine, clients: ProviderClients, *, ahead: timedelta, limit: int = 100
) -> int:
    """Refresh every connected token expiring within ``ahead`` (the background refresher)."""
    statement = (
        select(OAuthToken.venue_id, OAuthToken.integration_type)
        .join(
            IntegrationConfig,
            (IntegrationConfig.venue_id == OAuthToken.venue_id)
            & (IntegrationConfig.integration_type == OAuthToken.integration_type),
        )
        .where(
            IntegrationConfig.status == "connected",
            OAuthToken.encrypted_refresh_token.is_not(None),
            OAuthToken.expires_at < func.now() + ahead,
            (OAuthToken.refresh_lease_owner.is_(None))
            | (OAuthToken.refresh_lease_expires_at < func.now()),
        )
        .order_by(OAuthToken.expires_at)
        .limit(limit)
    )
    async with engine.connect() as conn:
        due = (await conn.execute(statement)).all()
    vault = vault_for(clients.settings)
    refreshed = 0
    for venue_id, provider in due:
        try:
            async with AsyncSession(engine, expire_on_commit=False) as session:
                token = await _token(session, venue_id, provider)
            if token is None or not _due(token.expires_at, ahead):
                continue
            await _refresh_ahead(engine, vault, clients, token, ahead)
            refreshed += 1
        except (ConnectionBroken, ProviderUnavailable, NotConnected) as exc:
            log.info("oauth_background_refresh_skipped", provider=provider, reason=exc.message)
    return refreshed


async def _refresh_ahead(
    engine: AsyncEngine,
    vault: Vault,
    clients: ProviderClients,
    token: OAuthToken,
    ahead: timedelta,
) -> None:
    owner = uuid.uuid4()
    leased = await _take_lease(engine, token.id, owner)
    if leased is None:
        return  # someone is refreshing it now
    if not _due(leased.expires_at, ahead):
        await _release_lease(engine, leased.id, owner)
        return
    await _refresh_under_lease(engine, vault, clients, leased, owner)
