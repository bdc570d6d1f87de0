"""The request transaction: committed before the response leaves, rolled back on errors,
after-commit work only after a successful commit."""

from __future__ import annotations

import json
import uuid

import asyncpg
from fastapi import APIRouter, FastAPI
from sqlalchemy import text
from tests.support import make_settings, running_app

from tickettoken.kit.app_factory import create_service_app
from tickettoken.kit.db import DbSession, after_commit
from tickettoken.kit.errors import Conflict

TABLE = "test_request_tx_" + uuid.uuid4().hex[:8]


def build_app(database_url: str, calls: list[str]) -> FastAPI:
    router = APIRouter()

    @router.post("/rows/{key}")
    async def add(key: str, session: DbSession) -> dict[str, str]:
        await session.execute(text(f"INSERT INTO {TABLE} (key) VALUES (:k)"), {"k": key})

        async def notify() -> None:
            calls.append(key)

        after_commit(session, notify)
        if key.startswith("conflict"):
            raise Conflict("refused after writing")
        return {"key": key}

    @router.get("/rows/{key}")
    async def read(key: str, session: DbSession) -> dict[str, int]:
        count = await session.scalar(
            text(f"SELECT count(*) FROM {TABLE} WHERE key = :k"), {"k": key}
        )
        return {"count": int(count or 0)}

    return create_service_app(
        "test", title="t", routers=[router], settings=make_settings(database_url=database_url)
    )


async def _create_table(database_url: str) -> None:
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(dsn)
    try:
        # The unique check is deferred to COMMIT, so only the commit itself can fail.
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (key text, "
            f"CONSTRAINT {TABLE}_key UNIQUE (key) DEFERRABLE INITIALLY DEFERRED)"
        )
    finally:
        await conn.close()


async def test_commit_happens_before_the_response_and_its_failure_is_reported(
    database_url: str,
) -> None:
    await _create_table(database_url)
    calls: list[str] = []
    async with running_app(build_app(database_url, calls)) as client:
        first = await client.post("/rows/a")
        assert first.status_code == 200
        assert (await client.get("/rows/a")).json() == {"count": 1}
        assert calls == ["a"]

        duplicate = await client.post("/rows/a")  # fails only at COMMIT
        assert duplicate.status_code == 500
        assert duplicate.json()["code"] == "INTERNAL_ERROR"
        assert (await client.get("/rows/a")).json() == {"count": 1}
        assert calls == ["a"], "after-commit work must not run when the commit fails"


async def test_an_error_rolls_back_the_request_and_skips_after_commit_work(
    database_url: str,
) -> None:
    await _create_table(database_url)
    calls: list[str] = []
    async with running_app(build_app(database_url, calls)) as client:
        refused = await client.post("/rows/conflict-1")
        assert refused.status_code == 409
        assert (await client.get("/rows/conflict-1")).json() == {"count": 0}
        assert calls == []


async def test_json_values_read_back_exactly_big_integers_and_all(database_url: str) -> None:
    from tickettoken.kit.db import Database

    database = Database(database_url)
    values = [
        {"amount": 12345678901234567890123, "nested": [1, 2.5, None, True, "é ☃"]},
        {"id": "1234567890123456789012", "n": -9223372036854775808},
        [0.1, 1e-7, {"deep": {"x": ""}}],
    ]
    try:
        async with database.transaction() as session:
            for value in values:
                for kind in ("json", "jsonb"):
                    read = await session.scalar(
                        text(f"SELECT CAST(:v AS {kind})"), {"v": json.dumps(value)}
                    )
                    assert read == value and type(read) is type(value), (kind, read)
            big = await session.scalar(text("SELECT CAST('{\"n\": 1e400}' AS json)"))
            assert big == {"n": float("inf")}  # what the standard library makes of it too
    finally:
        await database.dispose()
