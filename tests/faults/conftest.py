"""Fixtures of the fault tests: a throwaway PostgreSQL and a throwaway Redis that the tests may
stop, kill and restart (never the machine's shared servers)."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from tests.faults.fault_servers import ThrowawayPostgres, ThrowawayRedis


@pytest.fixture(scope="session")
async def throwaway_pg() -> AsyncIterator[ThrowawayPostgres]:
    """An embedded PostgreSQL of our own, migrated; tests stop and restart it."""
    with tempfile.TemporaryDirectory(prefix="tt-faults-pg-") as tmp:
        server = ThrowawayPostgres(Path(tmp))
        await asyncio.to_thread(server.start_and_migrate)
        try:
            yield server
        finally:
            await asyncio.to_thread(server.stop, "immediate")


@pytest.fixture
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    """A ``redis-server`` of our own on a free port, without persistence (restarts empty)."""
    with tempfile.TemporaryDirectory(prefix="tt-faults-redis-") as tmp:
        server = ThrowawayRedis(Path(tmp))
        server.start()
        try:
            yield server
        finally:
            server.stop()
