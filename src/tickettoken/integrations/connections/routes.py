"""HTTP routes of connections and OAuth (SPEC 5.2), under ``/api/v1/integrations``.

The OAuth callback is public (the provider redirects the venue admin's browser there, without
our bearer token): the state proves who asked. Every other route needs a token and acts only on
the caller's venues (another venue's connection answers 404).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from tickettoken.integrations.connections import service
from tickettoken.integrations.connections.clients import ProviderClients, app_clients
from tickettoken.integrations.connections.schemas import (
    ApiKeyBody,
    AuthorizationStarted,
    ConnectBody,
    ConnectionView,
    ProviderName,
    VenueBody,
)
from tickettoken.kit.auth import Caller, Principal, optional_principal
from tickettoken.kit.contracts import AUTHENTICATED, COMMON_ERRORS, Ok, errors
from tickettoken.kit.db import DbSession, get_database
from tickettoken.kit.errors import Unauthorized
from tickettoken.kit.pagination import ok

PREFIX = "/api/v1/integrations"


def request_clients(request: Request) -> ProviderClients:
    return app_clients(request.app)


Clients = Annotated[ProviderClients, Depends(request_clients)]
VenueQuery = Annotated[
    uuid.UUID | None,
    Query(description="The venue (default: the caller's only venue)"),
]

# The OAuth callback first: ``/oauth/callback/{provider}`` must not be read as a provider route.
oauth_router = APIRouter(prefix=PREFIX, tags=["integrations: oauth"], responses=COMMON_ERRORS)
router = APIRouter(
    prefix=PREFIX,
    tags=["integrations: connections"],
    responses={**COMMON_ERRORS, **AUTHENTICATED},
)
WITH_BODY = errors(400, 413)
PROVIDER_CALL = errors(**{"400": "The provider refused the credentials", "404": "Not found"})


@oauth_router.get(
    "/oauth/callback/{provider}",
    response_model=Ok[ConnectionView],
    responses=errors(
        **{
            "400": "The state is missing, expired, already used, for another venue or user; "
            "or the provider refused the authorization",
        },
    ),
)
async def oauth_callback(
    provider: ProviderName,
    request: Request,
    session: DbSession,
    clients: Clients,
    code: Annotated[str | None, Query(max_length=2048)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
    realm_id: Annotated[str | None, Query(alias="realmId", max_length=64)] = None,
    venue_id: Annotated[uuid.UUID | None, Query()] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    # The declared parameters are validated above; the provider may add its own (QuickBooks
    # realmId), so the exchange gets every one the redirect carried.
    params = dict(request.query_params)
    del code, state, realm_id, venue_id, error
    caller = await _browser_user(request)
    view = await service.oauth_callback(
        session,
        get_database(request).engine,
        clients,
        provider,
        params,
        caller=caller,
        client_ip=request.client.host if request.client else None,
    )
    return ok(view)


async def _browser_user(request: Request) -> Principal | None:
    """The user, when the browser's request carries a valid token (it then must be the user who
    started the flow); public otherwise: a bad token is no reason to refuse the provider."""
    try:
        return await optional_principal(request)
    except Unauthorized:
        return None


@router.post(
    "/oauth/refresh/{provider}",
    response_model=Ok[ConnectionView],
    responses={**WITH_BODY, **errors(404, 409, 503)},
)
async def oauth_refresh(
    provider: ProviderName, body: VenueBody, session: DbSession, principal: Caller, clients: Clients
) -> dict[str, Any]:
    return ok(await service.refresh(session, clients, principal, provider, body.venue_id))


@router.get("/", response_model=Ok[list[ConnectionView]], responses=errors(404))
async def list_connections(
    session: DbSession, principal: Caller, venue_id: VenueQuery = None
) -> dict[str, Any]:
    return ok(await service.list_connections(session, principal, venue_id))


@router.post(
    "/connect/{provider}",
    response_model=Ok[ConnectionView | AuthorizationStarted],
    responses={**WITH_BODY, **PROVIDER_CALL, **errors(503)},
)
async def connect(
    provider: ProviderName,
    body: ConnectBody,
    session: DbSession,
    principal: Caller,
    clients: Clients,
) -> dict[str, Any]:
    return ok(await service.connect(session, clients, principal, provider, body))


@router.get("/{provider}", response_model=Ok[ConnectionView], responses=errors(404))
async def get_connection(
    provider: ProviderName, session: DbSession, principal: Caller, venue_id: VenueQuery = None
) -> dict[str, Any]:
    return ok(await service.get_connection(session, principal, venue_id, provider))


@router.post(
    "/{provider}/disconnect",
    response_model=Ok[ConnectionView],
    responses={**WITH_BODY, **errors(404)},
)
async def disconnect(
    provider: ProviderName, body: VenueBody, session: DbSession, principal: Caller
) -> dict[str, Any]:
    return ok(await service.disconnect(session, principal, provider, body.venue_id))


@router.post(
    "/{provider}/reconnect",
    response_model=Ok[ConnectionView | AuthorizationStarted],
    responses={**WITH_BODY, **PROVIDER_CALL, **errors(503)},
)
async def reconnect(
    provider: ProviderName, body: VenueBody, session: DbSession, principal: Caller, clients: Clients
) -> dict[str, Any]:
    return ok(await service.reconnect(session, clients, principal, provider, body.venue_id))


@router.post(
    "/{provider}/api-key",
    response_model=Ok[ConnectionView],
    responses={**WITH_BODY, **PROVIDER_CALL, **errors(503)},
)
async def save_api_key(
    provider: ProviderName,
    body: ApiKeyBody,
    session: DbSession,
    principal: Caller,
    clients: Clients,
) -> dict[str, Any]:
    return ok(await service.save_api_key(session, clients, principal, provider, body))
