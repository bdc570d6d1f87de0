"""The token-only path's batched holds (``reservations/batches``), driven concurrently over
HTTP so requests really travel together: all-or-nothing batches never serve a request partly,
never refuse one that still fits, and keep each buyer's per-event limit inside a batch."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from tests.events.reservations.sales_catalog import Catalog, insert_catalog, ticket_counts

from tickettoken.events.reservations.settings import MAX_TICKETS_PER_CUSTOMER_PER_EVENT

Headers = Callable[[str], dict[str, str]]


async def token_only_hold(
    client: httpx.AsyncClient, catalog: Catalog, headers: dict[str, str], quantity: int
) -> httpx.Response:
    return await client.post(
        f"/api/v1/events/{catalog.event_id}/reservations",
        json={"ticket_type_id": str(catalog.ticket_type_id), "quantity": quantity},
        headers=headers,
    )


async def test_concurrent_buyers_get_whole_orders_until_nothing_fits(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    customer_headers: Headers,
    database_url: str,
) -> None:
    catalog = await insert_catalog(committed_session, quantity=40)
    await committed_session.commit()
    rng = random.Random(7)
    asked = [rng.randint(1, 4) for _ in range(60)]
    responses = await asyncio.gather(
        *(
            token_only_hold(sales_client, catalog, customer_headers(uuid.uuid4().hex), quantity)
            for quantity in asked
        )
    )
    granted = [q for q, r in zip(asked, responses, strict=True) if r.status_code == 201]
    refused = [q for q, r in zip(asked, responses, strict=True) if r.status_code != 201]
    assert all(r.status_code in (201, 409) for r in responses), [r.text for r in responses]
    for response, quantity in zip(responses, asked, strict=True):
        if response.status_code == 201:
            assert response.json()["data"]["quantity"] == quantity  # never partly served
    quantity, sold, reserved = await ticket_counts(database_url, catalog.ticket_type_id)
    assert (sold, reserved) == (0, sum(granted))
    assert reserved <= quantity
    # what is left at the end was left when each refusal happened: no refused order fits in it
    assert all(q > quantity - reserved for q in refused), (quantity - reserved, refused)


async def test_one_buyer_in_a_batch_stays_within_the_per_event_limit(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    customer_headers: Headers,
    database_url: str,
) -> None:
    catalog = await insert_catalog(committed_session, quantity=500)
    await committed_session.commit()
    headers = customer_headers(f"greedy-{uuid.uuid4().hex[:8]}")
    responses = await asyncio.gather(
        *(token_only_hold(sales_client, catalog, headers, 4) for _ in range(16))
    )
    statuses = sorted(r.status_code for r in responses)
    allowed = MAX_TICKETS_PER_CUSTOMER_PER_EVENT // 4
    assert statuses == [201] * allowed + [409] * (16 - allowed)
    refusals = [r.json() for r in responses if r.status_code == 409]
    assert all("per customer" in str(body) for body in refusals), refusals
    assert await ticket_counts(database_url, catalog.ticket_type_id) == (500, 0, allowed * 4)
