"""Connecting, disconnecting and reconnecting a venue's providers (SPEC 5.2).

Authorization is checked against the venue before anything is read: a venue the caller may not
see or manage answers 404, like a connection that does not exist. An API key is stored only after
the provider accepted it in a live call; an OAuth provider answers with its authorize URL and the
callback (public) proves who asked through the state.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tickettoken.integrations.connections import credentials as creds
from tickettoken.integrations.connections import oauth_state, repository
from tickettoken.integrations.connections.clients import ProviderClients
from tickettoken.integrations.connections.errors import (
    ConnectionBroken,
    CredentialsRefused,
    InvalidOAuthState,
    NotConnected,
    ProviderUnavailable,
)
from tickettoken.integrations.connections.schemas import (
    ApiKeyBody,
    AuthorizationStarted,
    ConnectBody,
    ConnectionView,
)
from tickettoken.integrations.models import IntegrationConfig, OAuthToken, VenueApiKey
from tickettoken.integrations.providers import (
    PROVIDERS,
    ConnectionCheck,
    Credentials,
    OAuthRefused,
    Provider,
    ProviderError,
    oauth_redirect_uri,
)
from tickettoken.kit.auth import Principal, require_venue_access
from tickettoken.kit.errors import BadRequest, ValidationFailed
from tickettoken.kit.vault import VaultError, vault_for

log = structlog.get_logger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def scoped_venue(principal: Principal, venue_id: uuid.UUID | None, *, manage: bool) -> uuid.UUID:
    """The venue a request acts on: the one it names, or the caller's only venue; 404 when the
    caller may not see (or manage) it."""
    if venue_id is None:
        if len(principal.venue_ids) != 1:
            raise ValidationFailed(
                "venue_id is required",
                details=[{"field": "query.venue_id", "message": "required"}],
            )
        venue_id = uuid.UUID(next(iter(principal.venue_ids)))
    require_venue_access(principal, venue_id, manage=manage)
    return venue_id


# --- views -------------------------------------------------------------------------------------


def connection_view(
    config: IntegrationConfig,
    token: OAuthToken | None = None,
    api_key: VenueApiKey | None = None,
) -> ConnectionView:
    settings: dict[str, Any] = config.config or {}
    auth = settings.get("auth")
    account = repository.public_extras(settings.get("account"))
    if token is not None:
        account.update(repository.public_extras(token.provider_data))
        auth = "oauth"
    elif api_key is not None:
        auth = "api_key"
    return ConnectionView(
        provider=config.integration_type,
        venue_id=config.venue_id,
        status=config.status or "disconnected",
        auth=auth if auth in ("oauth", "api_key") else None,
        connected_at=config.connected_at,
        disconnected_at=config.disconnected_at,
        last_sync_at=config.last_sync_at,
        health_status=config.health_status or "unknown",
        last_error=config.last_error,
        token_expires_at=token.expires_at if token is not None else None,
        scopes=list(token.scopes or []) if token is not None else [],
        account=account,
    )


def _absent_view(venue_id: uuid.UUID, provider: str) -> ConnectionView:
    return ConnectionView(
        provider=provider,
        venue_id=venue_id,
        status="disconnected",
        auth=None,
        connected_at=None,
        disconnected_at=None,
        last_sync_at=None,
        health_status="unknown",
        last_error=None,
        token_expires_at=None,
        scopes=[],
        account={},
    )


async def _view(session: AsyncSession, config: IntegrationConfig) -> ConnectionView:
    token = await repository.get_token(session, config.venue_id, config.integration_type)
    api_key = None
    if token is None:
        api_key = await repository.get_api_key(session, config.venue_id, config.integration_type)
    return connection_view(config, token, api_key)


async def list_connections(
    session: AsyncSession, principal: Principal, venue_id: uuid.UUID | None
) -> list[ConnectionView]:
    """Every provider for the venue, connected or not."""
    venue = scoped_venue(principal, venue_id, manage=False)
    configs = {c.integration_type: c for c in await repository.list_configs(session, venue)}
    return [
        await _view(session, configs[name]) if name in configs else _absent_view(venue, name)
        for name in sorted(PROVIDERS)
    ]


async def get_connection(
    session: AsyncSession, principal: Principal, venue_id: uuid.UUID | None, provider: str
) -> ConnectionView:
    venue = scoped_venue(principal, venue_id, manage=False)
    config = await repository.get_config(session, venue, provider)
    if config is None:
        raise NotConnected()
    return await _view(session, config)


# --- API keys ----------------------------------------------------------------------------------


async def _live_check(client: Provider, credentials: Credentials) -> ConnectionCheck:
    try:
        check = await client.check(credentials)
    except OAuthRefused as exc:
        raise CredentialsRefused(f"{client.name} refused the credentials ({exc.error})") from exc
    except ProviderError as exc:
        if exc.retryable or exc.status is None or exc.status >= 500:
            raise ProviderUnavailable(f"{client.name} could not be reached to check them") from exc
        raise CredentialsRefused(f"{client.name} refused the credentials") from exc
    if not check.ok:
        if check.status is None or check.status == 429 or check.status >= 500:
            raise ProviderUnavailable(f"{client.name} could not be reached to check them")
        raise CredentialsRefused(f"{client.name} refused the credentials")
    return check


def _account(check: ConnectionCheck) -> dict[str, str]:
    account = {"account_id": check.account_id, "account_name": check.account_name}
    return {k: v for k, v in account.items() if v}


async def save_api_key(
    session: AsyncSession,
    clients: ProviderClients,
    principal: Principal,
    provider: str,
    body: ApiKeyBody,
) -> ConnectionView:
    venue = scoped_venue(principal, body.venue_id, manage=True)
    return await _connect_with_key(
        session, clients, venue, provider, body.api_key, body.api_secret, body.key_name
    )


async def _connect_with_key(
    session: AsyncSession,
    clients: ProviderClients,
    venue: uuid.UUID,
    provider: str,
    api_key: str,
    api_secret: str | None,
    key_name: str | None,
) -> ConnectionView:
    client = await clients.get(provider)
    if "api_key" not in client.auth_kinds:
        raise BadRequest(f"{provider} connects with OAuth, not an API key")
    check = await _live_check(client, Credentials(api_key=api_key, venue_id=str(venue)))
    vault = vault_for(clients.settings)
    # One way in at a time: OAuth tokens of an earlier connection go.
    await repository.forget_secrets(session, venue, provider)
    key_row = await repository.store_api_key(
        session,
        vault,
        venue,
        provider,
        api_key=api_key,
        api_secret=api_secret,
        key_name=key_name,
        validated_at=_now(),
    )
    config = await repository.upsert_config(
        session,
        venue,
        provider,
        status="connected",
        connected_at=_now(),
        disconnected_at=None,
        last_error=None,
        config={"auth": "api_key", "account": _account(check)},
    )
    log.info("integration_connected", provider=provider, venue_id=str(venue), auth="api_key")
    return connection_view(config, None, key_row)


# --- connect / disconnect / reconnect ----------------------------------------------------------


async def connect(
    session: AsyncSession,
    clients: ProviderClients,
    principal: Principal,
    provider: str,
    body: ConnectBody,
) -> ConnectionView | AuthorizationStarted:
    venue = scoped_venue(principal, body.venue_id, manage=True)
    given = body.given_key()
    if given is not None:
        return await _connect_with_key(session, clients, venue, provider, *given, None)
    client = await clients.get(provider)
    if "oauth" not in client.auth_kinds:
        raise ValidationFailed(
            f"{provider} connects with an API key",
            details=[{"field": "body.api_key", "message": "required"}],
        )
    return await _start_oauth(session, clients, client, principal, venue, provider)


async def _start_oauth(
    session: AsyncSession,
    clients: ProviderClients,
    client: Provider,
    principal: Principal,
    venue: uuid.UUID,
    provider: str,
) -> AuthorizationStarted:
    flow = await oauth_state.start_flow(
        session, venue_id=venue, provider=provider, user_id=principal.sub
    )
    url = client.authorize_url(
        state=flow.state, redirect_uri=oauth_redirect_uri(clients.settings, provider)
    )
    current = await repository.get_config(session, venue, provider)
    if current is None or current.status != "connected":
        await repository.upsert_config(session, venue, provider, status="connecting")
    return AuthorizationStarted(
        provider=provider,
        venue_id=venue,
        status="connecting",
        authorization_url=url,
        state_expires_at=flow.expires_at,
    )


async def disconnect(
    session: AsyncSession, principal: Principal, provider: str, venue_id: uuid.UUID
) -> ConnectionView:
    venue = scoped_venue(principal, venue_id, manage=True)
    if await repository.get_config(session, venue, provider) is None:
        raise NotConnected()
    await repository.forget_secrets(session, venue, provider)
    config = await repository.upsert_config(
        session,
        venue,
        provider,
        status="disconnected",
        disconnected_at=_now(),
        last_error=None,
    )
    log.info("integration_disconnected", provider=provider, venue_id=str(venue))
    return connection_view(config)


async def reconnect(
    session: AsyncSession,
    clients: ProviderClients,
    principal: Principal,
    provider: str,
    venue_id: uuid.UUID,
) -> ConnectionView | AuthorizationStarted:
    """With stored credentials that still work (an API key the provider accepts, or a refresh
    token it honours), the connection is connected again at once; otherwise an OAuth provider
    starts a new flow, and an API-key provider needs the key again (POST .../api-key)."""
    venue = scoped_venue(principal, venue_id, manage=True)
    config = await repository.get_config(session, venue, provider)
    if config is None:
        raise NotConnected()
    client = await clients.get(provider)
    vault = vault_for(clients.settings)
    token = await repository.get_token(session, venue, provider)
    key_row = None if token is not None else await repository.get_api_key(session, venue, provider)
    if key_row is not None:
        try:
            api_key = repository.api_key_plaintext(vault, key_row)
        except VaultError as exc:
            raise ProviderUnavailable(
                "The stored API key cannot be decrypted with the configured keys", retry_after=60
            ) from exc
        return await _connect_with_key(
            session, clients, venue, provider, api_key, None, key_row.key_name
        )
    usable = (
        token is not None
        and token.encrypted_refresh_token is not None
        and not (config.status == "error" and token.refresh_failed_count)
    )
    if token is not None and usable:
        try:
            await creds.refresh_now(session, venue, provider, clients=clients)
        except ConnectionBroken:
            log.info("integration_reconnect_needs_consent", provider=provider, venue=str(venue))
        else:
            config = await repository.upsert_config(
                session,
                venue,
                provider,
                status="connected",
                last_error=None,
                disconnected_at=None,
            )
            return await _view(session, config)
    if "oauth" in client.auth_kinds:
        return await _start_oauth(session, clients, client, principal, venue, provider)
    raise ValidationFailed(
        f"{provider} needs its API key again",
        details=[{"field": "body.api_key", "message": "send it to POST .../api-key"}],
    )


# --- OAuth callback and refresh ----------------------------------------------------------------


async def oauth_callback(
    session: AsyncSession,
    engine: AsyncEngine,
    clients: ProviderClients,
    provider: str,
    params: Mapping[str, str],
    *,
    caller: Principal | None,
    client_ip: str | None,
) -> ConnectionView:
    """Complete the flow the state names. The state is consumed (committed) before the code is
    exchanged; anything wrong with it stores nothing at all."""
    state = params.get("state")
    if not state:
        raise InvalidOAuthState()
    named_venue = params.get("venue_id")
    try:
        venue_filter = uuid.UUID(named_venue) if named_venue else None
    except ValueError as exc:
        raise InvalidOAuthState() from exc
    consumed = await oauth_state.consume(
        engine,
        state=state,
        provider=provider,
        venue_id=venue_filter,
        user_id=caller.sub if caller is not None else None,
    )
    if consumed is None:
        log.warning("oauth_state_refused", provider=provider)
        raise InvalidOAuthState()
    venue = consumed.venue_id
    if params.get("error"):  # the venue admin said no at the provider: the state is spent
        raise CredentialsRefused(f"{provider} authorization was refused ({params['error']})")
    code = params.get("code")
    if not code:
        raise InvalidOAuthState("The callback carries no authorization code")
    client = await clients.get(provider)
    try:
        grant = await client.exchange_code(
            code=code,
            redirect_uri=oauth_redirect_uri(clients.settings, provider),
            callback_params=dict(params),
        )
    except OAuthRefused as exc:
        raise CredentialsRefused(
            f"{provider} refused the authorization code ({exc.error})"
        ) from exc
    except ProviderError as exc:
        raise ProviderUnavailable(f"{provider} could not complete the authorization") from exc
    # One way in at a time: an API key of an earlier connection goes.
    await repository.forget_api_key(session, venue, provider)
    token = await repository.store_grant(
        session,
        vault_for(clients.settings),
        venue,
        provider,
        grant,
        created_by=_uuid_or_none(consumed.user_id),
        created_ip=client_ip,
    )
    config = await repository.upsert_config(
        session,
        venue,
        provider,
        status="connected",
        connected_at=_now(),
        disconnected_at=None,
        last_error=None,
        config={"auth": "oauth", "account": dict(grant.extras)},
    )
    log.info("integration_connected", provider=provider, venue_id=str(venue), auth="oauth")
    return connection_view(config, token)


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def refresh(
    session: AsyncSession,
    clients: ProviderClients,
    principal: Principal,
    provider: str,
    venue_id: uuid.UUID,
) -> ConnectionView:
    venue = scoped_venue(principal, venue_id, manage=True)
    token = await repository.get_token(session, venue, provider)
    if token is None:
        raise NotConnected("No OAuth connection to refresh")
    # Nothing written in this transaction before the refresh: it writes on its own connection.
    await creds.access_credentials(session, venue, provider, clients=clients, force_refresh=True)
    config = await repository.get_config(session, venue, provider)
    if config is None:
        raise NotConnected()
    return connection_view(config, await repository.get_token(session, venue, provider))
