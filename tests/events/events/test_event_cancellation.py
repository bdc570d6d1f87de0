"""Cancelling an event: holds released, one refund job per paid order, pending orders
cancelled, tickets no longer valid, each holder notified once; second cancel 409."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from tests.events.conftest import expect
from tests.events.events.started_events import move_start_into_the_past

Json = dict[str, Any]


async def _customer(conn: AsyncConnection, venue_id: str, user_id: str | None) -> Any:
    return await conn.scalar(
        sa.text(
            "INSERT INTO customers (venue_id, email, user_id) VALUES (:v, :e, :u) RETURNING id"
        ),
        {"v": venue_id, "e": f"{uuid.uuid4().hex[:10]}@example.com", "u": user_id},
    )


async def _order(
    conn: AsyncConnection, event: Json, type_id: str, customer: Any, status: str, tickets: int
) -> Any:
    total = Decimal(50) * tickets
    order_id = await conn.scalar(
        sa.text(
            "INSERT INTO orders (customer_id, event_id, status, total, payment_intent_id)"
            " VALUES (:c, :e, :s, :t, :pi) RETURNING id"
        ),
        {"c": customer, "e": event["id"], "s": status, "t": total, "pi": f"pi_{uuid.uuid4().hex}"},
    )
    item_id = await conn.scalar(
        sa.text(
            "INSERT INTO order_items (order_id, ticket_type_id, quantity, unit_price, subtotal)"
            " VALUES (:o, :tt, :q, 50, :t) RETURNING id"
        ),
        {"o": order_id, "tt": type_id, "q": tickets, "t": total},
    )
    for _ in range(tickets):
        await conn.execute(
            sa.text(
                "INSERT INTO tickets (order_id, order_item_id, event_id, ticket_type_id,"
                " customer_id, status, code) VALUES (:o, :i, :e, :tt, :c, :s, :code)"
            ),
            {
                "o": order_id,
                "i": item_id,
                "e": event["id"],
                "tt": type_id,
                "c": customer,
                "s": "issued" if status == "paid" else "pending",
                "code": uuid.uuid4().hex,
            },
        )
    return order_id


async def sold_event(
    db: AsyncEngine, published_event: Callable[..., Awaitable[tuple[Json, Json]]]
) -> tuple[Json, Json, list[Any]]:
    """A published event with three paid orders (two customers), a pending order and a hold."""
    event, ticket_type = await published_event()
    async with db.begin() as conn:
        holder = await _customer(conn, event["venue_id"], f"user-{uuid.uuid4().hex[:8]}")
        other = await _customer(conn, event["venue_id"], None)
        paid = [
            await _order(conn, event, ticket_type["id"], holder, "paid", 2),
            await _order(conn, event, ticket_type["id"], holder, "paid", 1),
            await _order(conn, event, ticket_type["id"], other, "paid", 2),
        ]
        await _order(conn, event, ticket_type["id"], other, "pending", 1)
        await conn.execute(
            sa.text(
                "INSERT INTO reservations (event_id, ticket_type_id, customer_id, quantity,"
                " unit_price, total, expires_at) VALUES (:e, :tt, :c, 3, 50, 150,"
                " now() + interval '10 minutes')"
            ),
            {"e": event["id"], "tt": ticket_type["id"], "c": other},
        )
        await conn.execute(
            sa.text("UPDATE ticket_types SET sold = 5, reserved = 4 WHERE id = :id"),
            {"id": ticket_type["id"]},
        )
    return event, ticket_type, paid


async def test_cancel_stops_sales_refunds_every_paid_order_and_notifies_holders_once(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    db: AsyncEngine,
    published_event: Callable[..., Awaitable[tuple[Json, Json]]],
) -> None:
    event, _, paid = await sold_event(db, published_event)
    path = f"/api/v1/events/{event['id']}"
    expect(await client.get(path, headers=admin), 200)  # cached before the cancel
    response = await client.post(f"{path}/cancel", json={"reason": "Storm warning"}, headers=admin)
    result = expect(response, 200)["data"]
    assert result["event"]["status"] == "cancelled"
    assert result["event"]["cancellation_reason"] == "Storm warning"
    assert result["holds_released"] == 1 and result["orders_cancelled"] == 1
    assert result["refunds_queued"] == 3 and result["refund_amount"] == "250.00"
    assert result["holders_notified"] == 2
    assert expect(await client.get(path, headers=admin), 200)["data"]["status"] == "cancelled"
    capacity = expect(await client.get(f"{path}/capacity", headers=admin), 200)["data"]
    assert capacity["reserved"] == 0

    async with db.connect() as conn:
        jobs = (
            (
                await conn.execute(
                    sa.text(
                        "SELECT payload FROM jobs_money WHERE type = 'refund-process'"
                        " AND payload->>'order_id' = ANY(:ids)"
                    ),
                    {"ids": [str(o) for o in paid]},
                )
            )
            .scalars()
            .all()
        )
        valid_tickets = await conn.scalar(
            sa.text(
                "SELECT count(*) FROM tickets WHERE event_id = :e"
                " AND status IN ('pending', 'issued')"
            ),
            {"e": event["id"]},
        )
        hold = await conn.scalar(
            sa.text("SELECT status FROM reservations WHERE event_id = :e"), {"e": event["id"]}
        )
        audit = await conn.scalar(
            sa.text(
                "SELECT after->>'status' FROM audit_log WHERE entity_id = :e AND action = 'cancel'"
            ),
            {"e": event["id"]},
        )
    assert sorted(j["amount_cents"] for j in jobs) == [5000, 10000, 10000]
    assert valid_tickets == 0 and hold == "released" and audit == "cancelled"

    again = await client.post(f"{path}/cancel", json={"reason": "Twice"}, headers=admin)
    assert again.status_code == 409
    assert (await client.post(f"{path}/publish", headers=admin)).status_code == 409


async def test_partial_or_no_refund_only_by_an_admin(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    headers_for: Callable[..., dict[str, str]],
    db: AsyncEngine,
    published_event: Callable[..., Awaitable[tuple[Json, Json]]],
) -> None:
    event, _, _ = await sold_event(db, published_event)
    path = f"/api/v1/events/{event['id']}/cancel"
    owner = headers_for("venue_admin", venue_ids=[event["venue_id"]])
    partial = {"reason": "Half refund", "refund_policy": "partial", "refund_percentage": "50"}
    assert (await client.post(path, json=partial, headers=owner)).status_code == 403
    result = expect(await client.post(path, json=partial, headers=admin), 200)["data"]
    assert result["refund_policy"] == "partial" and result["refund_amount"] == "125.00"

    other, _, _ = await sold_event(db, published_event)
    none = {"reason": "No refunds", "refund_policy": "none"}
    result = expect(
        await client.post(f"/api/v1/events/{other['id']}/cancel", json=none, headers=admin), 200
    )["data"]
    assert result["refunds_queued"] == 0 and result["refund_amount"] == "0.00"


async def test_completed_events_and_other_venues_cannot_be_cancelled(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    db: AsyncEngine,
    headers_for: Callable[..., dict[str, str]],
    published_event: Callable[..., Awaitable[tuple[Json, Json]]],
) -> None:
    event, _ = await published_event()
    path = f"/api/v1/events/{event['id']}"
    stranger = headers_for("venue_admin", venue_ids=[str(uuid.uuid4())])
    body = {"reason": "Not yours"}
    assert (await client.post(f"{path}/cancel", json=body, headers=stranger)).status_code == 404
    staff = headers_for("venue_staff", venue_ids=[event["venue_id"]])
    assert (await client.post(f"{path}/cancel", json=body, headers=staff)).status_code == 403
    await move_start_into_the_past(db, event["id"])
    expect(await client.put(path, json={"status": "completed"}, headers=admin), 200)
    assert (await client.post(f"{path}/cancel", json=body, headers=admin)).status_code == 409
