"""SPEC 4.2: the price shown by /pricing is the price a reservation locks (all rule types)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from tests.events.conftest import expect

Json = dict[str, Any]


async def test_reservation_locks_exactly_the_quoted_price_for_its_quantity(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    headers_for: Callable[..., dict[str, str]],
    published_event: Callable[..., Awaitable[tuple[Json, Json]]],
) -> None:
    event, ticket_type = await published_event()
    rules = f"/api/v1/events/{event['id']}/pricing-rules"
    for body in [
        {
            "ticket_type_id": ticket_type["id"],
            "rule_type": "time_based",
            "conditions": {"days_before": 7},
            "adjustment": {"type": "percentage", "value": "-15"},
            "priority": 1,
        },
        {
            "ticket_type_id": ticket_type["id"],
            "rule_type": "group",
            "conditions": {"min_quantity": 3},
            "adjustment": {"type": "fixed", "value": "-2.35"},
            "priority": 2,
        },
    ]:
        expect(await client.post(rules, json=body, headers=admin), 201)
    for quantity in (1, 3):
        shown = expect(
            await client.get(
                f"/api/v1/events/{event['id']}/pricing?quantity={quantity}", headers=admin
            ),
            200,
        )["data"]["ticket_types"][0]
        customer = headers_for("customer", sub=f"buyer-{uuid.uuid4().hex[:8]}")
        reservation = expect(
            await client.post(
                f"/api/v1/events/{event['id']}/reservations",
                json={
                    "ticket_type_id": ticket_type["id"],
                    "quantity": quantity,
                    "customer": {"email": f"{uuid.uuid4().hex[:8]}@example.com"},
                },
                headers=customer,
            ),
            201,
        )["data"]
        assert str(reservation["unit_price"]) == shown["current_price"], quantity
        assert str(reservation["total"]) == shown["total"], quantity
    # 50.00 - 15% = 42.50 for one; 42.50 - 2.35 = 40.15 for three.
    assert shown["current_price"] == "40.15"
