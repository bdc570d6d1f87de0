"""What runs beside the connection routes: the provider clients of the process, and the refresher
that renews OAuth tokens before they expire (so a sync rarely waits for a refresh) and forgets
OAuth states long expired."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from tickettoken.integrations.connections import credentials, oauth_state
from tickettoken.integrations.connections.clients import (
    ProviderClients,
    app_clients,
    close_provider_clients,
)
from tickettoken.kit.db import Database
from tickettoken.kit.faults import database_unreachable
from tickettoken.kit.periodic import Periodic
from tickettoken.kit.provider_limits import RateLimiter, build_rate_limiter
from tickettoken.kit.vault import check_vault_configuration

REFRESH_EVERY_SECONDS = 60.0
# QuickBooks access tokens live one hour: renewed in their last ten minutes.
REFRESH_AHEAD = timedelta(minutes=10)
STATES_KEPT_AFTER_EXPIRY = timedelta(days=1)


async def open_connections(app: FastAPI) -> None:
    """The vault (built now: a missing or malformed key stops the service at start, not at the
    first venue that connects) and the provider clients, every call of which takes a slot of the
    provider limiter the queue's workers share (Redis, else the database)."""
    settings = app.state.settings
    check_vault_configuration(settings)
    database = getattr(app.state, "database", None)
    limiter = await build_rate_limiter(
        settings, database_url=database.url if isinstance(database, Database) else None
    )
    app.state.provider_limiter = limiter
    app.state.provider_clients = ProviderClients(
        settings, limiter=limiter, observer=getattr(app.state, "provider_call_observer", None)
    )
    credentials.set_default_clients(app.state.provider_clients)


async def close_connections(app: FastAPI) -> None:
    credentials.set_default_clients(None)
    await close_provider_clients(app)
    limiter = getattr(app.state, "provider_limiter", None)
    if isinstance(limiter, RateLimiter):
        await limiter.aclose()


async def start_token_refresher(app: FastAPI) -> None:
    database = getattr(app.state, "database", None)
    if not isinstance(database, Database):
        return
    clients = app_clients(app)

    async def round() -> None:
        await credentials.refresh_due_tokens(database.engine, clients, ahead=REFRESH_AHEAD)
        await oauth_state.forget_old_states(database.engine, older_than=STATES_KEPT_AFTER_EXPIRY)

    refresher = Periodic(
        "oauth token refresher",
        round,
        REFRESH_EVERY_SECONDS,
        first_after=5.0,
        expected=database_unreachable,
    )
    app.state.token_refresher = refresher
    refresher.start()


async def stop_token_refresher(app: FastAPI) -> None:
    refresher = getattr(app.state, "token_refresher", None)
    if isinstance(refresher, Periodic):
        await refresher.stop()
