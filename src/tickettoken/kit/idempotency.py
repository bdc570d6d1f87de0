"""HTTP ``Idempotency-Key`` for POST routes that create money-relevant state (SPEC section 3).

A repeat with the same key and the same body answers the first response (status and body); the
same key with a different body answers 409; a repeat while the first request still runs answers
409. Keys are 1-255 characters of ``[A-Za-z0-9:_.@/+=-]`` (422 otherwise). Records live in the
``idempotency_records`` table (unique ``(scope, key)``), so every instance of every service sees
the same keys; Redis is not involved because a restarted-empty Redis must not replay a payment.

Use it in a route that owns its transaction::

    from tickettoken.kit import idempotency

    key = idempotency.key_from_header(request)          # None when the header is absent
    async with idempotency.guard(
        database,
        scope=f"event.reservations:{principal.sub}",    # per caller: keys never cross callers
        key=key,
        request_hash=idempotency.fingerprint(body_as_dict),
    ) as call:
        if call.replay is not None:                     # the first response, stored
            return JSONResponse(call.replay.body, status_code=call.replay.status)
        async with database.transaction() as session:
            ... do the work ...
            await call.complete(session, 201, body)     # stored in the SAME transaction
        return JSONResponse(body, status_code=201)

- ``guard`` claims the key in its own short transaction (``INSERT ... ON CONFLICT DO NOTHING``),
  so a concurrent second request sees the claim at once and gets 409.
- ``call.complete(session, status, body)`` writes the response in the caller's transaction: the
  created state and the stored response commit or roll back together, so a crash can never leave
  "work done but no stored response" (which would run the work twice on retry).
- If the block raises, or returns without ``complete``, the claim is removed, so the client may
  retry with the same key (a 5xx or a validation error is not stored).
- A claim left ``in_progress`` by a crashed process is taken over after ``stale_after_seconds``
  (same body only); a completed record expires after ``ttl_seconds`` (24 h by default).
- With ``key=None`` the guard does nothing (``call.replay`` is None, ``complete`` is a no-op).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.kit.db import Database
from tickettoken.kit.errors import Conflict, ValidationFailed

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
_KEY_PATTERN = re.compile(r"^[A-Za-z0-9:_.@/+=\-]+$")
DEFAULT_TTL_SECONDS = 86_400
DEFAULT_STALE_AFTER_SECONDS = 60


def validate_key(key: str) -> str:
    """The key itself, or 422 when it is empty, longer than 255 or has other characters."""
    if not key or len(key) > MAX_KEY_LENGTH or not _KEY_PATTERN.match(key):
        raise ValidationFailed(
            "Idempotency-Key must be 1-255 characters of letters, digits and :_.@/+=-",
            details=[{"field": "header.Idempotency-Key", "message": "invalid idempotency key"}],
        )
    return key


def key_from_header(request: Request) -> str | None:
    """The validated ``Idempotency-Key`` header of a request, or None when it is absent."""
    value = request.headers.get(HEADER)
    return None if value is None else validate_key(value.strip())


def fingerprint(body: Any) -> str:
    """A stable hash of a request body (canonical JSON: key order and spacing do not matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any


class IdempotentCall:
    """What ``guard`` yields: a replay to return, or the means to store this response."""

    def __init__(self, scope: str, key: str | None, replay: StoredResponse | None) -> None:
        self.scope = scope
        self.key = key
        self.replay = replay
        self.completed = False

    async def complete(self, session: AsyncSession, status: int, body: Any) -> None:
        """Store the response in the caller's transaction (commits with the work)."""
        if self.key is None or self.replay is not None:
            return
        await session.execute(
            text(
                "UPDATE idempotency_records SET status = 'completed', response_status = :status,"
                " response_body = CAST(:body AS jsonb) WHERE scope = :scope AND key = :key"
            ),
            {
                "status": status,
                "body": json.dumps(body, default=str),
                "scope": self.scope,
                "key": self.key,
            },
        )
        self.completed = True


_CLAIM = text(
    "INSERT INTO idempotency_records (key, scope, request_hash, status, expires_at)"
    " VALUES (:key, :scope, :hash, 'in_progress', now() + make_interval(secs => :ttl))"
    " ON CONFLICT (scope, key) DO NOTHING RETURNING id"
)

# Take over a record that expired (any body) or a claim abandoned by a crashed process (same body).
_TAKE_OVER = text(
    "UPDATE idempotency_records SET request_hash = :hash, status = 'in_progress',"
    " response_status = NULL, response_body = NULL, created_at = now(), updated_at = now(),"
    " expires_at = now() + make_interval(secs => :ttl)"
    " WHERE scope = :scope AND key = :key AND (expires_at <= now() OR (status = 'in_progress'"
    " AND request_hash = :hash AND updated_at < now() - make_interval(secs => :stale)))"
    " RETURNING id"
)

_EXISTING = text(
    "SELECT request_hash, status, response_status, response_body FROM idempotency_records"
    " WHERE scope = :scope AND key = :key"
)

_RELEASE = text(
    "DELETE FROM idempotency_records WHERE scope = :scope AND key = :key AND status = 'in_progress'"
)


async def _claim(
    database: Database, scope: str, key: str, request_hash: str, ttl: int, stale: int
) -> StoredResponse | None:
    params = {"key": key, "scope": scope, "hash": request_hash, "ttl": ttl, "stale": stale}
    async with database.transaction() as session:
        if (await session.execute(_CLAIM, params)).first() is not None:
            return None
        if (await session.execute(_TAKE_OVER, params)).first() is not None:
            return None
        row = (await session.execute(_EXISTING, params)).mappings().first()
    if row is None:  # deleted between our statements by a failing first request: claim again
        return await _claim(database, scope, key, request_hash, ttl, stale)
    if row["request_hash"] != request_hash:
        raise Conflict("Idempotency-Key was already used with a different request body")
    if row["status"] != "completed":
        raise Conflict("A request with this Idempotency-Key is still in progress")
    return StoredResponse(int(row["response_status"]), row["response_body"])


@asynccontextmanager
async def guard(
    database: Database,
    *,
    scope: str,
    key: str | None,
    request_hash: str,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    stale_after_seconds: int = DEFAULT_STALE_AFTER_SECONDS,
) -> AsyncIterator[IdempotentCall]:
    """Claim ``key`` in ``scope`` for this request; see the module docstring."""
    if key is None:
        yield IdempotentCall(scope, None, None)
        return
    validate_key(key)
    replay = await _claim(database, scope, key, request_hash, ttl_seconds, stale_after_seconds)
    call = IdempotentCall(scope, key, replay)
    if replay is not None:
        yield call
        return
    try:
        yield call
    finally:
        # Removes the claim unless the caller's transaction committed the stored response (then
        # the record is 'completed' and this deletes nothing). Also covers a rollback after
        # ``complete``.
        async with database.transaction() as session:
            await session.execute(_RELEASE, {"scope": scope, "key": key})


async def purge_expired(session: AsyncSession) -> int:
    """Delete expired records (for a periodic clean-up job); returns how many."""
    result = await session.execute(
        text("DELETE FROM idempotency_records WHERE expires_at <= now()")
    )
    return int(getattr(result, "rowcount", 0) or 0)
