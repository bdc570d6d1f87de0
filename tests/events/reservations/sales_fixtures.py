"""Fixtures of the sales tests (import them in a conftest): the event service in-process, a
session that commits, customer tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from tests.support import auth_header, running_app

from tickettoken.events.app import create_app
from tickettoken.kit.settings import Settings


@pytest.fixture
async def sales_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(settings)) as client:
        yield client


@pytest.fixture
async def committed_session(database_url: str) -> AsyncIterator[AsyncSession]:
    """A session whose work the test commits itself (the app must see it)."""
    engine = create_async_engine(database_url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            yield session
    finally:
        await engine.dispose()


@pytest.fixture
def customer_headers(token_for: Callable[..., str]) -> Callable[[str], dict[str, str]]:
    def headers(sub: str) -> dict[str, str]:
        return auth_header(token_for("customer", sub=sub))

    return headers
