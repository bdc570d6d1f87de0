"""Fixtures for the queue service's tests: an in-process app (monitor off), a scratch database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from tests.support import create_scratch_database, drop_scratch_database, running_app

from tickettoken.kit.settings import Settings
from tickettoken.migrations.runner import upgrade_to_head
from tickettoken.queue.app import create_app
from tickettoken.queue.monitoring.config import MonitorConfig


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, MonitorConfig(monitor_enabled=False))
    async with running_app(app) as http:
        yield http


@pytest.fixture
async def scratch_db(pg_server_url: str) -> AsyncIterator[str]:
    """A migrated database of the test's own (real processes, alert cooldowns and samples must
    not meet other tests' rows), dropped afterwards."""
    url = await create_scratch_database(pg_server_url, prefix="tt_queue")
    try:
        await asyncio.to_thread(upgrade_to_head, url)
        yield url
    finally:
        await drop_scratch_database(pg_server_url, url)
