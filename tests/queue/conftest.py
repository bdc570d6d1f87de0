"""Fixtures for the queue service's route tests: one app per test module, monitor off."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from tests.support import running_app

from tickettoken.kit.settings import Settings
from tickettoken.queue.app import create_app
from tickettoken.queue.monitoring.config import MonitorConfig


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, MonitorConfig(monitor_enabled=False))
    async with running_app(app) as http:
        yield http
