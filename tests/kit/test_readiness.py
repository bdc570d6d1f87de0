"""Readiness follows the real dependencies: 503 while PostgreSQL (or a configured Redis) is down.

Uses a throwaway embedded PostgreSQL, never the machine's shared server.
"""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support import make_settings, running_app

from tickettoken.events.app import create_app
from tickettoken.kit.embedded_pg import EmbeddedPostgres


@pytest.fixture(scope="module")
def throwaway_postgres() -> Iterator[EmbeddedPostgres]:
    with tempfile.TemporaryDirectory(prefix="tt-ready-") as tmp:
        server = EmbeddedPostgres(Path(tmp))
        server.start()
        try:
            yield server
        finally:
            server.stop(mode="immediate")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
async def test_readiness_is_503_while_postgres_is_stopped_and_200_after(
    throwaway_postgres: EmbeddedPostgres,
) -> None:
    app = create_app(make_settings(database_url=throwaway_postgres.url()))
    async with running_app(app) as client:
        ready = await client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok"}

        throwaway_postgres.stop(mode="immediate")
        down = await client.get("/health/ready")
        assert down.status_code == 503
        body = down.json()
        assert body["code"] == "SERVICE_UNAVAILABLE" and body["checks"]["database"] == "down"
        assert (await client.get("/health")).status_code == 200  # liveness does no I/O

        throwaway_postgres.start()
        again = await client.get("/health/ready")
        assert again.status_code == 200, again.text


async def test_readiness_is_503_when_a_configured_redis_is_unreachable(database_url: str) -> None:
    settings = make_settings(
        database_url=database_url, redis_url=f"redis://127.0.0.1:{_closed_port()}/0"
    )
    async with running_app(create_app(settings)) as client:
        response = await client.get("/health/ready")
        assert response.status_code == 503
        assert response.json()["checks"] == {"database": "ok", "redis": "down"}


async def test_readiness_without_redis_checks_only_the_database(database_url: str) -> None:
    async with running_app(create_app(make_settings(database_url=database_url))) as client:
        response = await client.get("/health/ready")
        assert response.status_code == 200
        assert response.json()["checks"] == {"database": "ok"}
