"""A registry filled from declarations: one handler per job type, and the catalogue types of a
queue that nobody handles are named."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.kit.jobs import JobContext, JobHandler, JobRecord, OnCompleted
from tickettoken.queue.engine import JobRegistry


async def handle(ctx: JobContext) -> dict[str, Any]:
    return {}


async def completed(session: AsyncSession, job: JobRecord, result: dict[str, Any]) -> None:
    return None


def test_two_handlers_for_one_job_type_are_refused() -> None:
    with pytest.raises(ValueError, match="two handlers declared for job type 'noop'"):
        JobRegistry().declare([JobHandler("noop", handle), JobHandler("noop", handle)])


def test_missing_handlers_are_the_catalogue_types_of_the_claimed_queues() -> None:
    registry = JobRegistry().declare(
        [JobHandler("send-email", handle, timeout=5), OnCompleted("send-email", completed)]
    )
    assert registry.handlers["send-email"].timeout == 5
    assert registry.completed_callbacks["send-email"] == [completed]
    assert registry.missing_handlers(["communication"]) == [
        "box-office-return",
        "box-office-sale",
        "marketing-unsubscribe",
        "noop",  # allowed in every queue
        "provider-refund",
        "send-push",
        "send-sms",
        "sync",
        "webhook",
    ]
    assert "noop" in registry.missing_handlers(["background"])
