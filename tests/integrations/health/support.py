"""Helpers of the health, costs and admin tests: connections stored directly (API key sealed by
the vault, config connected), clients pointed at the sandbox or at a dead port, the integration
app with its usage meter reachable, and an engine per test."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from tests.integrations.helpers import SANDBOX_KEY
from tests.integrations.providers.provider_support import FAST_RETRIES, GENEROUS
from tests.support import running_app

from tickettoken.integrations.connections import repository
from tickettoken.integrations.connections.clients import ProviderClients
from tickettoken.integrations.providers import CallObserver
from tickettoken.integrations.vault.sealed import unseal_optional
from tickettoken.kit.provider_limits import create_rate_limiter
from tickettoken.kit.settings import Settings
from tickettoken.kit.vault import vault_for

BASE = "/api/v1/integrations"


def dead_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def dead_stripe(settings: Settings) -> Settings:
    return settings.model_copy(update={"stripe_base_url": f"http://127.0.0.1:{dead_port()}"})


def clients_for(settings: Settings, observer: CallObserver | None = None) -> ProviderClients:
    return ProviderClients(
        settings,
        limiter=create_rate_limiter(None, limits=GENEROUS),
        retry=FAST_RETRIES,
        observer=observer,
    )


@asynccontextmanager
async def engine_for(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(settings.sqlalchemy_url() or "")
    try:
        yield engine
    finally:
        await engine.dispose()


async def connect_stripe(
    engine: AsyncEngine, settings: Settings, venue: uuid.UUID, *, key: str = SANDBOX_KEY
) -> None:
    """A connected Stripe integration with an API key, as the connect route stores it."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        await repository.store_api_key(
            session,
            vault_for(settings),
            venue,
            "stripe",
            api_key=key,
            api_secret=None,
            key_name=None,
            validated_at=datetime.now(UTC),
        )
        await repository.upsert_config(
            session,
            venue,
            "stripe",
            status="connected",
            connected_at=datetime.now(UTC),
            config={"auth": "api_key", "account": {}},
        )
        await session.commit()


async def fetch(engine: AsyncEngine, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(sql), params)).all())


@asynccontextmanager
async def integration_app(
    settings: Settings, *, health_checker: bool = False
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The integration service in-process. Its health checker is stopped unless asked for: its
    rounds would check every connection of the shared test database behind other tests' back."""
    from tickettoken.integrations.app import create_app

    app = create_app(settings)
    async with running_app(app) as http:
        if not health_checker:
            await app.state.health_checker.stop()
        yield app, http


async def stored_secrets(settings: Settings, venue: uuid.UUID) -> list[str]:
    """The plaintext of every token and key stored for the venue (through the vault)."""
    vault = vault_for(settings)
    sealed = {
        "oauth_tokens": ("encrypted_access_token", "encrypted_refresh_token"),
        "venue_api_keys": ("encrypted_api_key", "encrypted_api_secret"),
    }
    found: list[str] = []
    async with engine_for(settings) as engine:
        for table, columns in sealed.items():
            rows = await fetch(
                engine,
                f"SELECT integration_type, {', '.join(columns)} FROM {table}"
                " WHERE venue_id = :venue",
                venue=venue,
            )
            for row in rows:
                for column in columns:
                    value = unseal_optional(
                        vault, table, column, venue, row.integration_type, getattr(row, column)
                    )
                    if value:
                        found.append(value)
    return found
