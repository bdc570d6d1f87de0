"""``Idempotency-Key`` on a reservation, through the request dependency
(``kit.idempotency.idempotent``) over the request's own transaction: concurrent duplicates hold
once, a repeat replays, another body is 409, a malformed key is 422, and a refusal stores
nothing (the same key may be retried)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from tests.events.reservations.sales_catalog import insert_catalog, ticket_counts

Headers = Callable[[str], dict[str, str]]


async def test_duplicates_hold_once_and_replay_the_first_answer(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    customer_headers: Headers,
    database_url: str,
) -> None:
    catalog = await insert_catalog(committed_session, quantity=20)
    await committed_session.commit()
    url = f"/api/v1/events/{catalog.event_id}/reservations"
    body = {"ticket_type_id": str(catalog.ticket_type_id), "quantity": 2}
    headers = {**customer_headers(f"dup-{uuid.uuid4().hex}"), "Idempotency-Key": "k-1"}
    answers = await asyncio.gather(
        *(sales_client.post(url, json=body, headers=headers) for _ in range(8))
    )
    statuses = Counter(answer.status_code for answer in answers)
    assert set(statuses) <= {201, 409} and statuses[201] >= 1, statuses
    assert await ticket_counts(database_url, catalog.ticket_type_id) == (20, 0, 2)
    created = {answer.json()["data"]["id"] for answer in answers if answer.status_code == 201}
    assert len(created) == 1  # every 201 is the first answer, replayed
    replay = await sales_client.post(url, json=body, headers=headers)
    assert replay.status_code == 201 and replay.json()["data"]["id"] in created
    other = await sales_client.post(url, json={**body, "quantity": 1}, headers=headers)
    assert other.status_code == 409
    bad = await sales_client.post(url, json=body, headers={**headers, "Idempotency-Key": "a b"})
    assert bad.status_code == 422
    assert await ticket_counts(database_url, catalog.ticket_type_id) == (20, 0, 2)


async def test_a_refusal_is_not_stored(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    customer_headers: Headers,
    database_url: str,
) -> None:
    catalog = await insert_catalog(committed_session, quantity=3)
    await committed_session.commit()
    url = f"/api/v1/events/{catalog.event_id}/reservations"
    body = {"ticket_type_id": str(catalog.ticket_type_id), "quantity": 4}
    headers = {**customer_headers(f"ref-{uuid.uuid4().hex}"), "Idempotency-Key": "k-2"}
    first = await sales_client.post(url, json=body, headers=headers)
    assert first.status_code == 409
    assert await ticket_counts(database_url, catalog.ticket_type_id) == (3, 0, 0)
    again = await sales_client.post(url, json=body, headers=headers)
    assert again.status_code == 409 and "Not enough tickets" in again.text  # ran again
