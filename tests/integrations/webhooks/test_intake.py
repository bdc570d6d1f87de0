"""The group commit when the database refuses a write: only the delivery it refused fails."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy.exc import DBAPIError
from tests.integrations.webhooks.support import scalar, stored

from tickettoken.integrations.webhooks.intake import Stored, WebhookIntake
from tickettoken.integrations.webhooks.parsing import InboundEvent
from tickettoken.integrations.webhooks.repository import Incoming
from tickettoken.kit.db import Database


def incoming(payload: str) -> Incoming:
    event = InboundEvent(f"evt_{uuid.uuid4().hex}", "customer.updated", None, payload)
    return Incoming("stripe", event, {}, None)


async def test_a_delivery_the_database_refuses_fails_alone(wdb: Database) -> None:
    """Three requests in one batch, the middle one's payload text is not JSON ``jsonb`` takes
    (the parsers refuse such bodies with a 400; this is what any other refusal would do)."""
    intake = WebhookIntake(wdb)
    first, refused, last = incoming('{"n": 1}'), incoming("NaN"), incoming('{"n": 3}')
    answers = await asyncio.gather(
        intake.submit([first]),
        intake.submit([refused]),
        intake.submit([last]),
        return_exceptions=True,
    )
    assert answers[0] == answers[2] == Stored(1, 0), answers
    assert isinstance(answers[1], DBAPIError), answers
    try:
        for item in (first, last):
            (row,) = await stored(wdb, "stripe", item.event.external_id)
            jobs = "SELECT count(*) FROM jobs_communication WHERE payload->>'webhook_id' = :w"
            assert await scalar(wdb, jobs, w=str(row["id"])) == 1
        assert not await stored(wdb, "stripe", refused.event.external_id)
    finally:  # their jobs would only be ignored: not other tests' wait
        await scalar(
            wdb,
            "WITH gone AS (DELETE FROM jobs_communication WHERE payload->>'webhook_id' IN"
            " (SELECT id::text FROM integration_webhooks WHERE external_id = ANY(:ids))"
            " RETURNING 1) SELECT count(*) FROM gone",
            ids=[first.event.external_id, last.event.external_id],
        )
