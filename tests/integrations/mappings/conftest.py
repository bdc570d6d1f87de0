"""Fixtures of the mapping tests: rows the routes read (a venue's connection, its events), written
with SQL in the session's database, and tokens. The app is the integration app of
``tests/integrations/conftest.py`` (in-process, real PostgreSQL)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from tests.support import auth_header

from tickettoken.kit.settings import Settings

BASE = "/api/v1/integrations/mappings"


@pytest.fixture
async def engine(integration_settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(integration_settings.sqlalchemy_url() or "")
    yield engine
    await engine.dispose()


class Rows:
    """Writes the rows a test needs, as the other services would have."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def connection(self, venue: uuid.UUID, provider: str, field_mappings: Any = None) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO integration_configs (venue_id, integration_type, status,"
                    " field_mappings) VALUES (:venue, :provider, 'connected',"
                    " CAST(:mappings AS jsonb))"
                ),
                {
                    "venue": venue,
                    "provider": provider,
                    "mappings": json.dumps(field_mappings or {}),
                },
            )

    async def stored_mappings(self, venue: uuid.UUID, provider: str) -> Any:
        async with self.engine.connect() as conn:
            return await conn.scalar(
                text(
                    "SELECT field_mappings FROM integration_configs"
                    " WHERE venue_id = :venue AND integration_type = :provider"
                ),
                {"venue": venue, "provider": provider},
            )

    async def venue_with_events(self, categories: dict[str, int]) -> uuid.UUID:
        venue = uuid.uuid4()
        start = datetime.now(UTC) + timedelta(days=30)
        async with self.engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO venues (id, name, capacity) VALUES (:id, :name, 500)"),
                {"id": venue, "name": f"Venue {venue.hex[:8]}"},
            )
            n = 0
            for category, count in categories.items():
                for _ in range(count):
                    n += 1
                    await conn.execute(
                        text(
                            "INSERT INTO events (venue_id, name, category, start_date, end_date,"
                            " capacity) VALUES (:venue, :name, :category, :start, :end, 100)"
                        ),
                        {
                            "venue": venue,
                            "name": f"Event {n}",
                            "category": category,
                            "start": start + timedelta(days=n),
                            "end": start + timedelta(days=n, hours=3),
                        },
                    )
        return venue


@pytest.fixture
def rows(engine: AsyncEngine) -> Rows:
    return Rows(engine)


@pytest.fixture
def headers_for(token_for: Callable[..., str]) -> Callable[..., dict[str, str]]:
    def make(role: str, *venues: uuid.UUID) -> dict[str, str]:
        return auth_header(token_for(role, venue_ids=[str(v) for v in venues]))

    return make
