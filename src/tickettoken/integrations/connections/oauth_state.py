"""OAuth state: random, single-use, ten minutes, bound to venue, provider and user, and shared by
every instance through the ``oauth_states`` table (the original kept it in process memory).

Only the SHA-256 of the state is stored: a database reader cannot complete someone's flow. The
callback consumes the state with one conditional UPDATE, committed before the code is exchanged,
so two callbacks with the same state cannot both pass, even on two instances.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, insert, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tickettoken.integrations.models import OAuthState

STATE_LIFETIME = timedelta(minutes=10)
STATE_BYTES = 32


@dataclass(frozen=True)
class StartedFlow:
    state: str  # the raw value, sent to the browser only
    expires_at: datetime


@dataclass(frozen=True)
class ConsumedState:
    venue_id: uuid.UUID
    user_id: str
    redirect_after: str | None


def state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


async def start_flow(
    session: AsyncSession,
    *,
    venue_id: uuid.UUID,
    provider: str,
    user_id: str,
    redirect_after: str | None = None,
) -> StartedFlow:
    state = secrets.token_urlsafe(STATE_BYTES)
    expires_at = datetime.now(UTC) + STATE_LIFETIME
    await session.execute(
        insert(OAuthState).values(
            state=state_hash(state),
            venue_id=venue_id,
            integration_type=provider,
            user_id=user_id,
            redirect_after=redirect_after,
            expires_at=expires_at,
        )
    )
    return StartedFlow(state, expires_at)


async def consume(
    engine: AsyncEngine,
    *,
    state: str,
    provider: str,
    venue_id: uuid.UUID | None = None,
    user_id: str | None = None,
) -> ConsumedState | None:
    """Use the state once (committed at once); None when it is unknown, expired, already used,
    for another provider, or not for the venue or user the callback names."""
    conditions = [
        OAuthState.state == state_hash(state),
        OAuthState.integration_type == provider,
        OAuthState.used_at.is_(None),
        OAuthState.expires_at > func.now(),
    ]
    if venue_id is not None:
        conditions.append(OAuthState.venue_id == venue_id)
    if user_id is not None:
        conditions.append(OAuthState.user_id == user_id)
    statement = (
        update(OAuthState)
        .where(*conditions)
        .values(used_at=func.now())
        .returning(OAuthState.venue_id, OAuthState.user_id, OAuthState.redirect_after)
    )
    async with engine.begin() as conn:
        row = (await conn.execute(statement)).one_or_none()
    if row is None:
        return None
    return ConsumedState(row.venue_id, row.user_id, row.redirect_after)


async def forget_old_states(engine: AsyncEngine, *, older_than: timedelta) -> int:
    async with engine.begin() as conn:
        result = await conn.execute(
            delete(OAuthState).where(OAuthState.expires_at < func.now() - older_than)
        )
    return int(result.rowcount or 0)
