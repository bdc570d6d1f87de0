"""One live check of a connection, and the scheduled round over every connected integration.

A check is the provider's own ``check`` with the connection's credentials (refreshed first when
they are about to expire). What it finds is stored as a sample and folded into the connection's
24 h row at once. A round claims the connections that are due (``repository.claim_due``: one
instance per connection, however many run the task) and checks them a few at a time.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from tickettoken.integrations.connections.clients import ProviderClients
from tickettoken.integrations.connections.credentials import access_credentials
from tickettoken.integrations.connections.errors import (
    ConnectionBroken,
    NotConnected,
    ProviderUnavailable,
)
from tickettoken.integrations.health.repository import Outcome, Recorded, claim_due, record_check
from tickettoken.integrations.providers import ProviderError

log = structlog.get_logger(__name__)

DETAIL_LIMIT = 300


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


async def live_check(
    engine: AsyncEngine, clients: ProviderClients, venue: uuid.UUID, provider: str
) -> Outcome:
    """Check the connection now; ``NotConnected`` when there is nothing to check."""
    started = time.monotonic()
    try:
        credentials = await access_credentials(engine, venue, provider, clients=clients)
        client = await clients.get(provider)
        check = await client.check(credentials)
    except ConnectionBroken as exc:
        return Outcome(False, _elapsed_ms(started), None, "connection_broken", exc.message)
    except ProviderUnavailable as exc:
        return Outcome(False, _elapsed_ms(started), None, "unavailable", exc.message)
    except ProviderError as exc:  # messages are redacted by the clients
        return Outcome(
            False,
            _elapsed_ms(started),
            exc.status,
            exc.code or "provider_error",
            str(exc)[:DETAIL_LIMIT],
        )
    return Outcome(
        ok=check.ok,
        response_ms=round(check.elapsed_ms) if check.elapsed_ms else _elapsed_ms(started),
        status_code=check.status,
        error_code=None if check.ok else (check.code or "check_failed"),
        detail=None if check.ok else (check.detail or "")[:DETAIL_LIMIT] or None,
    )


async def check_and_record(
    engine: AsyncEngine,
    clients: ProviderClients,
    venue: uuid.UUID,
    provider: str,
    *,
    trigger: str,
) -> tuple[Outcome, Recorded] | None:
    """A live check, stored; None when the connection is gone (disconnected meanwhile)."""
    try:
        outcome = await live_check(engine, clients, venue, provider)
    except NotConnected:
        return None
    recorded = await record_check(engine, venue, provider, outcome, trigger=trigger)
    if recorded.status != "healthy":
        log.info(
            "integration_health",
            provider=provider,
            venue_id=str(venue),
            status=recorded.status,
            ok=outcome.ok,
            code=outcome.error_code,
        )
    return outcome, recorded


async def check_due(
    engine: AsyncEngine,
    clients: ProviderClients,
    *,
    every: timedelta,
    limit: int = 100,
    concurrency: int = 8,
) -> int:
    """Check every connected integration not checked for ``every``; how many were checked."""
    due = await claim_due(engine, every=every, limit=limit)
    gate = asyncio.Semaphore(concurrency)

    async def one(venue: uuid.UUID, provider: str) -> bool:
        async with gate:
            try:
                return (
                    await check_and_record(engine, clients, venue, provider, trigger="scheduled")
                    is not None
                )
            except Exception:  # one connection's failure must not end the round
                log.exception(
                    "integration_health_check_crashed", provider=provider, venue_id=str(venue)
                )
                return False

    results = await asyncio.gather(*(one(venue, provider) for venue, provider in due))
    return sum(results)
