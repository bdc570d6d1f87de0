"""``kit.idempotency``: claim, replay, conflicts, release on failure, rows left by a crash."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from tickettoken.kit import idempotency
from tickettoken.kit.db import Database
from tickettoken.kit.errors import Conflict, ValidationFailed


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


def _scope() -> str:
    return f"test:{uuid.uuid4().hex}"


async def test_first_response_is_replayed(database: Database) -> None:
    scope, h = _scope(), idempotency.fingerprint({"a": 1, "b": [1, 2]})
    async with idempotency.guard(database, scope=scope, key="k1", request_hash=h) as call:
        assert call.replay is None
        async with call.transaction() as session:
            await call.complete(session, 201, {"id": "x"})
    same = idempotency.fingerprint({"b": [1, 2], "a": 1})  # key order does not matter
    async with idempotency.guard(database, scope=scope, key="k1", request_hash=same) as call:
        assert call.replay == idempotency.StoredResponse(201, {"id": "x"})


async def test_different_body_and_in_progress_conflict(database: Database) -> None:
    scope = _scope()
    async with idempotency.guard(database, scope=scope, key="k", request_hash="h1") as call:
        assert call.replay is None
        with pytest.raises(Conflict, match="in progress"):
            async with idempotency.guard(database, scope=scope, key="k", request_hash="h1"):
                pass
        with pytest.raises(Conflict, match="in progress"):  # any body while the first runs
            async with idempotency.guard(database, scope=scope, key="k", request_hash="h2"):
                pass
        async with call.transaction() as session:
            await call.complete(session, 200, {"ok": True})
    with pytest.raises(Conflict, match="different request body"):
        async with idempotency.guard(database, scope=scope, key="k", request_hash="h2"):
            pass


async def test_failure_releases_the_key(database: Database) -> None:
    scope = _scope()
    with pytest.raises(RuntimeError):
        async with idempotency.guard(database, scope=scope, key="k", request_hash="h"):
            raise RuntimeError("work failed")
    # A rollback after complete() also leaves nothing behind.
    with pytest.raises(RuntimeError):
        async with (
            idempotency.guard(database, scope=scope, key="k", request_hash="h") as call,
            call.transaction() as session,
        ):
            await call.complete(session, 201, {"id": 1})
            raise RuntimeError("commit never happens")
    async with idempotency.guard(database, scope=scope, key="k", request_hash="other") as call:
        assert call.replay is None  # free again, any body


async def test_a_claim_row_left_by_a_crashed_process_does_not_block(database: Database) -> None:
    """Claims are locks that end with their transaction; an 'in_progress' row (written by an
    older version that claimed with rows) stores no answer and is overwritten."""
    scope = _scope()
    async with database.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO idempotency_records (key, scope, request_hash, status, expires_at)"
                " VALUES ('k', :s, 'h', 'in_progress', now() + interval '1 day')"
            ),
            {"s": scope},
        )
    async with idempotency.guard(database, scope=scope, key="k", request_hash="x") as call:
        assert call.replay is None
        async with call.transaction() as session:
            await call.complete(session, 201, {"id": 2})
    async with idempotency.guard(database, scope=scope, key="k", request_hash="x") as call:
        assert call.replay == idempotency.StoredResponse(201, {"id": 2})


def test_keys_are_validated() -> None:
    assert idempotency.validate_key("order:123/ab+c=d@e.f_g-h") == "order:123/ab+c=d@e.f_g-h"
    for bad in ("", "x" * 256, "a b", "a;b", "ü"):
        with pytest.raises(ValidationFailed):
            idempotency.validate_key(bad)
