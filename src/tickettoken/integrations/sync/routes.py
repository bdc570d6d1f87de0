"""HTTP routes of the sync engine (SPEC 5.2), under ``/api/v1/integrations/sync/{provider}``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from tickettoken.integrations.connections.schemas import ProviderName
from tickettoken.integrations.sync import service
from tickettoken.integrations.sync.schemas import SyncBody, SyncStarted, SyncVenueBody, SyncView
from tickettoken.kit.auth import Caller
from tickettoken.kit.contracts import AUTHENTICATED, COMMON_ERRORS, Ok, Page, errors
from tickettoken.kit.db import DbSession
from tickettoken.kit.pagination import PageParams, ok, page_params, paginated

router = APIRouter(
    prefix="/api/v1/integrations/sync",
    tags=["integrations: sync"],
    responses={**COMMON_ERRORS, **AUTHENTICATED},
)
VenueQuery = Annotated[
    uuid.UUID | None, Query(description="The venue (default: the caller's only venue)")
]
WITH_BODY = errors(400, 413)


@router.post(
    "/{provider}/sync",
    status_code=202,
    response_model=Ok[SyncStarted],
    responses={**WITH_BODY, **errors(404, 409)},
)
async def start_sync(
    provider: ProviderName, body: SyncBody, session: DbSession, principal: Caller
) -> dict[str, Any]:
    return ok(
        await service.start(
            session, principal, provider, body.venue_id, body.sync_type, body.direction
        )
    )


@router.get("/{provider}/sync/status", response_model=Ok[SyncView], responses=errors(404))
async def sync_status(
    provider: ProviderName, session: DbSession, principal: Caller, venue_id: VenueQuery = None
) -> dict[str, Any]:
    return ok(await service.status(session, principal, provider, venue_id))


@router.get("/{provider}/sync/history", response_model=Page[SyncView], responses=errors(404))
async def sync_history(
    provider: ProviderName,
    session: DbSession,
    principal: Caller,
    page: Annotated[PageParams, Depends(page_params)],
    venue_id: VenueQuery = None,
) -> dict[str, Any]:
    items, total = await service.history(
        session, principal, provider, venue_id, page.limit, page.offset
    )
    return paginated(items, page, total)


@router.post(
    "/{provider}/sync/stop",
    response_model=Ok[SyncView],
    responses={**WITH_BODY, **errors(404)},
)
async def stop_sync(
    provider: ProviderName, body: SyncVenueBody, session: DbSession, principal: Caller
) -> dict[str, Any]:
    return ok(await service.stop(session, principal, provider, body.venue_id))


@router.post(
    "/{provider}/sync/retry",
    status_code=202,
    response_model=Ok[SyncStarted],
    responses={**WITH_BODY, **errors(404, 409)},
)
async def retry_sync(
    provider: ProviderName, body: SyncVenueBody, session: DbSession, principal: Caller
) -> dict[str, Any]:
    return ok(await service.retry(session, principal, provider, body.venue_id))
