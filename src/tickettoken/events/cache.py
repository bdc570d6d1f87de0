"""Read-through caches of the event service: event page, event list, capacity and prices.

Stored in ``app.state.kv`` (Redis when configured, process memory otherwise). Keys carry a
generation number (one per event, one for all lists); invalidating bumps the generation after the
write has committed, so entries written by a reader that saw the old rows are simply never read
again. Readers fetch the generation *before* reading the database, which makes the ordering safe:
a reader that started before the commit stores its value under the old generation.

A cache that cannot be reached is a miss, never an error; entries expire after a short TTL, so
an invalidation lost to a Redis outage heals by itself.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.dependencies import after_commit
from tickettoken.kit.kv import KeyValueStore, KeyValueUnavailable

log = structlog.get_logger(__name__)

DEFAULT_TTL_SECONDS = 60.0
_LIST_GENERATION = "events:list:gen"
_GENERATION_TTL = 24 * 3600.0


def _event_generation_key(event_id: uuid.UUID | str) -> str:
    return f"events:{event_id}:gen"


def fingerprint(params: dict[str, Any]) -> str:
    """A short stable digest of query parameters, for list and price keys."""
    encoded = json.dumps(params, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:24]


async def _generation(kv: KeyValueStore, key: str) -> str:
    value = await kv.get(key)
    return value.decode() if value is not None else "0"


async def cached(
    kv: KeyValueStore,
    *,
    event_id: uuid.UUID | str | None,
    kind: str,
    params: dict[str, Any] | None,
    load: Callable[[], Awaitable[Any]],
    ttl_seconds: float | Callable[[Any], float] = DEFAULT_TTL_SECONDS,
) -> Any:
    """The cached JSON value for (event or list, kind, params), loading it on a miss.

    ``load`` returns a JSON-ready value (``None`` is not cached: absent rows are never cached,
    so a created row is visible at once). ``ttl_seconds`` may be a function of the value
    (prices expire at the next time-rule boundary).
    """
    try:
        if event_id is None:
            generation = await _generation(kv, _LIST_GENERATION)
            key = f"events:list:{generation}:{kind}:{fingerprint(params or {})}"
        else:
            generation = await _generation(kv, _event_generation_key(event_id))
            key = f"events:{event_id}:{generation}:{kind}:{fingerprint(params or {})}"
        hit = await kv.get(key)
    except KeyValueUnavailable:
        log.warning("cache_unavailable", kind=kind)
        return await load()
    if hit is not None:
        return json.loads(hit)
    value = await load()
    ttl = ttl_seconds(value) if callable(ttl_seconds) else ttl_seconds
    if value is not None and ttl > 0:
        try:
            await kv.set(key, json.dumps(value).encode(), ttl_seconds=ttl)
        except KeyValueUnavailable:
            log.warning("cache_unavailable", kind=kind)
    return value


async def invalidate_event(kv: KeyValueStore, event_id: uuid.UUID | str) -> None:
    """Drop everything cached about one event (page, capacity, prices) and every event list.

    Call after the write has committed (``schedule_event_invalidation`` does that for you inside
    a request).
    """
    try:
        await kv.incr(_event_generation_key(event_id), ttl_seconds=_GENERATION_TTL)
        await kv.incr(_LIST_GENERATION, ttl_seconds=_GENERATION_TTL)
    except KeyValueUnavailable:
        log.warning("cache_invalidation_failed", event_id=str(event_id))


async def invalidate_lists(kv: KeyValueStore) -> None:
    try:
        await kv.incr(_LIST_GENERATION, ttl_seconds=_GENERATION_TTL)
    except KeyValueUnavailable:
        log.warning("cache_invalidation_failed", event_id=None)


def schedule_event_invalidation(
    session: AsyncSession, kv: KeyValueStore, event_id: uuid.UUID | str
) -> None:
    """Invalidate the event's caches once the request's transaction commits."""

    async def invalidate() -> None:
        await invalidate_event(kv, event_id)

    after_commit(session, invalidate)
