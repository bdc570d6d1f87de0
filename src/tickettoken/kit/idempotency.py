"""HTTP ``Idempotency-Key`` for POST routes that create money-relevant state (SPEC section 3).

A repeat with the same key and the same body answers the first response (status and body); the
same key with a different body answers 409; a repeat while the first request still runs answers
409. Keys are 1-255 characters of ``[A-Za-z0-9:_.@/+=-]`` (422 otherwise). Records live in the
``idempotency_records`` table (unique ``(scope, key)``), so every instance of every service sees
the same keys; Redis is not involved because a restarted-empty Redis must not replay a payment.

In a route, take it as a dependency over the request's session (``DbSession``)::

    from tickettoken.kit.idempotency import Idempotent, idempotent

    @router.post("/things")
    async def create_thing(
        body: ThingCreate,
        session: DbSession,
        idem: Annotated[Idempotent, idempotent("things")],   # scope, per caller
    ) -> JSONResponse:
        if idem.replay is not None:
            return idem.replayed()                            # the first response, stored
        body = ok(await service.create_thing(session, ...))
        return await idem.respond(201, body)                  # stored in the SAME transaction

The dependency claims the key in the request's transaction (``RequestTx``, the one ``DbSession``
uses: the work, the stored answer and the claim commit or roll back together, before the
response leaves), answers 409
for a key in use by a running request or with another body (the fingerprint covers the path,
the query and the JSON body) and 422 for a malformed key. Without the header it does nothing.

Code that owns its transaction (the queue's routes) uses ``guard`` directly::

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
        async with call.transaction() as session:       # the work's transaction holds the claim
            ... do the work ...
            await call.complete(session, 201, body)     # stored in the SAME transaction
        return JSONResponse(body, status_code=201)

- The claim is a transaction-level advisory lock on ``(scope, key)`` taken in the work's own
  transaction (``call.transaction()``), not a row: a concurrent second request cannot take the
  lock and gets 409 at once, and the claim ends with that transaction whatever happens to it:
  commit, rollback, a crashed process, a database that went away. Nothing has to be cleaned up
  afterwards, so a committed answer can never be replaced by a failed clean-up, and a retry is
  never refused because of work that did not commit.
- ``call.complete(session, status, body)`` writes the response in that transaction: the created
  state and the stored response commit or roll back together, so a crash can never leave "work
  done but no stored response" (which would run the work twice on retry).
- If the block raises, or returns without ``complete``, nothing is stored, so the client may
  retry with the same key (a 5xx or a validation error is not stored). A completed record
  expires after ``ttl_seconds`` (24 h by default).
- With ``key=None`` the guard does nothing (``call.replay`` is None, ``complete`` is a no-op,
  ``call.transaction()`` is a plain ``database.transaction()``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.kit.auth import Caller, Principal
from tickettoken.kit.db import Database, RequestTransaction, RequestTx, committing
from tickettoken.kit.errors import Conflict, ValidationFailed

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
_KEY_PATTERN = re.compile(r"^[A-Za-z0-9:_.@/+=\-]+$")
DEFAULT_TTL_SECONDS = 86_400


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
    """What ``guard`` yields: a replay to return, or the work's transaction and the means to
    store this response in it."""

    def __init__(
        self,
        database: Database,
        scope: str,
        key: str | None,
        replay: StoredResponse | None,
        *,
        request_hash: str = "",
        claim: AsyncSession | None = None,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
    ) -> None:
        self.database = database
        self.scope = scope
        self.key = key
        self.replay = replay
        self.request_hash = request_hash
        self.completed = False
        self._claim = claim
        self._ttl = ttl_seconds
        self._used = False

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """The work's transaction (once per call): commits on normal exit, rolls back on an
        exception. With a key it is the transaction that holds the claim."""
        if self._used:
            raise RuntimeError("an idempotent call has one transaction")
        self._used = True
        if self._claim is None:
            async with self.database.transaction() as session:
                yield session
            return
        async with committing(self._claim) as session:
            yield session

    async def complete(self, session: AsyncSession, status: int, body: Any) -> None:
        """Store the response in the work's transaction (commits with the work)."""
        if self.key is None or self.replay is not None:
            return
        if session is not self._claim:
            raise RuntimeError("complete() takes the session of call.transaction()")
        await session.execute(
            _STORE,
            {
                "status": status,
                "body": json.dumps(body, default=str),
                "scope": self.scope,
                "key": self.key,
                "hash": self.request_hash,
                "ttl": self._ttl,
            },
        )
        self.completed = True


# A transaction-level advisory lock on the key (64-bit hash of scope and key): the claim.
_LOCK = text("SELECT pg_try_advisory_xact_lock(hashtextextended(:scope || chr(10) || :key, 0))")

_COMPLETED = text(
    "SELECT request_hash, response_status, response_body FROM idempotency_records"
    " WHERE scope = :scope AND key = :key AND status = 'completed' AND expires_at > now()"
)

# Only the lock holder writes, so an expired record (or an 'in_progress' row left by an older
# version) is simply overwritten.
_STORE = text(
    "INSERT INTO idempotency_records"
    " (key, scope, request_hash, status, response_status, response_body, expires_at)"
    " VALUES (:key, :scope, :hash, 'completed', :status, CAST(:body AS jsonb),"
    " now() + make_interval(secs => :ttl))"
    " ON CONFLICT (scope, key) DO UPDATE SET request_hash = EXCLUDED.request_hash,"
    " status = 'completed', response_status = EXCLUDED.response_status,"
    " response_body = EXCLUDED.response_body, created_at = now(), updated_at = now(),"
    " expires_at = EXCLUDED.expires_at"
)


async def _claim(
    session: AsyncSession, scope: str, key: str, request_hash: str
) -> StoredResponse | None:
    """Take the lock, then read a completed record (in this order: the read's snapshot must
    see a response committed by the previous lock holder). None: the work is ours to do."""
    params = {"scope": scope, "key": key}
    locked = bool((await session.execute(_LOCK, params)).scalar_one())
    row = (await session.execute(_COMPLETED, params)).mappings().first()
    if row is not None:
        if row["request_hash"] != request_hash:
            raise Conflict("Idempotency-Key was already used with a different request body")
        return StoredResponse(int(row["response_status"]), row["response_body"])
    if not locked:
        raise Conflict("A request with this Idempotency-Key is still in progress")
    return None


@asynccontextmanager
async def guard(
    database: Database,
    *,
    scope: str,
    key: str | None,
    request_hash: str,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
) -> AsyncIterator[IdempotentCall]:
    """Claim ``key`` in ``scope`` for this request; see the module docstring."""
    if key is None:
        yield IdempotentCall(database, scope, None, None)
        return
    validate_key(key)
    session = database.sessions()
    try:
        replay = await _claim(session, scope, key, request_hash)
    except BaseException:
        await session.close()
        raise
    if replay is not None:
        await session.close()  # ends the transaction: a replay holds no claim
        yield IdempotentCall(database, scope, key, replay)
        return
    call = IdempotentCall(
        database,
        scope,
        key,
        None,
        request_hash=request_hash,
        claim=session,
        ttl_seconds=ttl_seconds,
    )
    try:
        yield call
    finally:
        # Rolls back whatever did not commit (which also ends the claim) and returns the
        # connection; after a commit there is nothing left to do, so nothing can fail.
        await session.close()


@dataclass
class Idempotent:
    """What the ``idempotent`` dependency gives a route: the stored answer to replay, or the
    means to store this answer in the request's transaction (``respond``)."""

    session: AsyncSession | None  # the request's (``RequestTx``); None without a key
    scope: str
    key: str | None
    request_hash: str
    replay: StoredResponse | None
    ttl_seconds: int = DEFAULT_TTL_SECONDS

    def replayed(self) -> JSONResponse:
        """The first response again (status and body)."""
        if self.replay is None:
            raise RuntimeError("nothing to replay")
        return JSONResponse(self.replay.body, status_code=self.replay.status)

    async def store(self, status: int, body: Any) -> None:
        """Store the answer in the request's transaction (a no-op without a key); it commits
        with the work or not at all."""
        if self.key is None or self.replay is not None or self.session is None:
            return
        await self.session.execute(
            _STORE,
            {
                "status": status,
                "body": json.dumps(body, default=str),
                "scope": self.scope,
                "key": self.key,
                "hash": self.request_hash,
                "ttl": self.ttl_seconds,
            },
        )

    async def respond(self, status: int, body: Any) -> JSONResponse:
        """``store`` the answer, then the response that carries it."""
        await self.store(status, body)
        return JSONResponse(body, status_code=status)


async def _request_fingerprint(request: Request) -> str:
    """The request as the key promises to repeat it: path (its ids), query and JSON body
    (canonical: key order and spacing do not matter; no body and ``{}`` are the same)."""
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        body = raw.decode("utf-8", "replace")
    return fingerprint(
        {
            "path": request.url.path,
            "query": sorted(request.query_params.multi_items()),
            "body": body,
        }
    )


async def claim_key(
    request: Request,
    transaction: RequestTransaction,
    principal: Principal,
    scope: str,
    *,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
) -> Idempotent:
    """The request's ``Idempotency-Key`` claimed in ``transaction`` (the ``idempotent``
    dependency's work, callable by a route that opens its transaction itself): keys live in
    ``scope`` per caller, so one caller's key never meets another's."""
    key = key_from_header(request)
    caller_scope = f"{scope}:{principal.sub}"
    if key is None:  # no session begun for it: a request without a key may need none
        return Idempotent(None, caller_scope, None, "", None, ttl_seconds)
    session = await transaction.session()
    request_hash = await _request_fingerprint(request)
    replay = await _claim(session, caller_scope, key, request_hash)
    return Idempotent(session, caller_scope, key, request_hash, replay, ttl_seconds)


def idempotent(scope: str, *, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> Any:
    """The dependency (``Annotated[Idempotent, idempotent("orders.confirm")]``), over the
    request's transaction (``RequestTx``)."""

    async def dependency(request: Request, transaction: RequestTx, principal: Caller) -> Idempotent:
        return await claim_key(request, transaction, principal, scope, ttl_seconds=ttl_seconds)

    return Depends(dependency)


async def purge_expired(session: AsyncSession) -> int:
    """Delete expired records (for a periodic clean-up job); returns how many."""
    result = await session.execute(
        text("DELETE FROM idempotency_records WHERE expires_at <= now()")
    )
    return int(getattr(result, "rowcount", 0) or 0)
