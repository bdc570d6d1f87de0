"""Dead letters: jobs that exhausted their attempts, listed (monitoring sees no payloads) and
requeued (admin)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query

from tickettoken.kit.auth import Principal
from tickettoken.kit.contracts import AUTHENTICATED, COMMON_ERRORS, Ok, Page, errors
from tickettoken.kit.db import DbSession
from tickettoken.kit.pagination import PageParams, ok, page_params, paginated
from tickettoken.queue.access import ADMIN_ONLY, OBSERVERS
from tickettoken.queue.dead_letters.schemas import DeadLetterRead
from tickettoken.queue.engine import list_dead_letters, requeue_dead_letter
from tickettoken.queue.job_rules import visible
from tickettoken.queue.jobs.schemas import JobRead
from tickettoken.queue.queues.schemas import QueueName

router = APIRouter(
    prefix="/api/v1/queue/dead-letter",
    tags=["dead letters"],
    responses={**COMMON_ERRORS, **AUTHENTICATED},
)


@router.get(
    "",
    summary="Dead letters, newest first",
    response_model=Page[DeadLetterRead],
    response_model_exclude_unset=True,  # monitoring: the summary fields only
)
async def list_letters(
    queue: QueueName | None = Query(None),
    include_requeued: bool = Query(False),
    page: PageParams = Depends(page_params),
    principal: Principal = Depends(OBSERVERS),
    *,
    session: DbSession,
) -> dict[str, Any]:
    items, total = await list_dead_letters(
        session, queue, page=page.page, limit=page.limit, include_requeued=include_requeued
    )
    return paginated([visible(principal, item.to_dict()) for item in items], page, total)


@router.post(
    "/{dead_letter_id}/requeue",
    summary="Put a dead letter's job back on its queue",
    response_model=Ok[JobRead],
    responses=errors(404, **{"409": "Already requeued, or its job is back on a queue"}),
)
async def requeue(
    dead_letter_id: uuid.UUID,
    _: Principal = Depends(ADMIN_ONLY),
    *,
    session: DbSession,
) -> dict[str, Any]:
    return ok((await requeue_dead_letter(session, str(dead_letter_id))).to_dict())
