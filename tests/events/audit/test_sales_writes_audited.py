"""Every write leaves an audit row (SPEC 4.2, issue 7): reservations on every path (token-only
batches, the general path, idempotent requests), releases, confirmations (the order they create),
refunds, notifications, customers created on the fly, and what an event cancellation does to its
orders. Each row has the actor, the request id, and commits with the write (a refused write
leaves none)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.events.conftest import expect

from tickettoken.events.reservations.sweeper import sweep_expired_holds
from tickettoken.kit.db import Database

Json = dict[str, Any]


@dataclass(frozen=True)
class Sale:
    """What every test here starts from: the API, callers' headers, the database, and a
    freshly published event with its ticket type."""

    client: httpx.AsyncClient
    headers_for: Callable[..., dict[str, str]]
    db: AsyncEngine
    event: Json
    ticket_type: Json


@pytest.fixture
async def sale(
    client: httpx.AsyncClient,
    headers_for: Callable[..., dict[str, str]],
    db: AsyncEngine,
    published_event: Callable[..., Awaitable[tuple[Json, Json]]],
) -> Sale:
    event, ticket_type = await published_event()
    return Sale(client, headers_for, db, event, ticket_type)


async def mark_paid(db: AsyncEngine, order_id: str) -> None:
    """As if the payment provider had confirmed the order's payment."""
    async with db.begin() as conn:
        await conn.execute(
            sa.text("UPDATE orders SET status = 'paid', payment_intent_id = :pi WHERE id = :id"),
            {"pi": f"pi_{uuid.uuid4().hex}", "id": order_id},
        )


async def audit_rows(db: AsyncEngine, entity_ids: list[str]) -> list[dict[str, Any]]:
    async with db.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT action, entity_type, entity_id, actor_id, actor_role, before, after,"
                " request_id FROM audit_log WHERE entity_id = ANY(:ids) ORDER BY created_at, action"
            ),
            {"ids": entity_ids},
        )
        return [dict(r) for r in rows.mappings()]


async def customer_of(db: AsyncEngine, reservation_id: str) -> str:
    async with db.connect() as conn:
        return str(
            await conn.scalar(
                sa.text("SELECT customer_id FROM reservations WHERE id = :id"),
                {"id": reservation_id},
            )
        )


async def test_token_only_holds_in_batches_audit_each_reservation_and_new_customer(
    sale: Sale,
) -> None:
    client, headers_for, db = sale.client, sale.headers_for, sale.db
    event, ticket_type = sale.event, sale.ticket_type
    url = f"/api/v1/events/{event['id']}/reservations"
    subs = [f"fan-{uuid.uuid4().hex}" for _ in range(12)]
    answers = await asyncio.gather(
        *(
            client.post(
                url,
                json={"ticket_type_id": ticket_type["id"], "quantity": 1},
                headers={**headers_for("customer", sub=sub), "X-Request-ID": f"req-{sub}"},
            )
            for sub in subs
        )
    )
    held = [expect(answer, 201)["data"] for answer in answers]
    for sub, reservation in zip(subs, held, strict=True):
        customer_id = await customer_of(db, reservation["id"])
        rows = await audit_rows(db, [reservation["id"], customer_id])
        assert [(r["action"], r["entity_type"]) for r in rows] == [
            ("create", "customer"),
            ("create", "reservation"),
        ], rows
        for row in rows:
            assert row["actor_id"] == sub and row["actor_role"] == "customer"
            assert row["request_id"] == f"req-{sub}"
        assert rows[1]["after"]["status"] == "held" and rows[1]["after"]["quantity"] == 1

    again = await client.post(
        url,
        json={"ticket_type_id": ticket_type["id"], "quantity": 1},
        headers=headers_for("customer", sub=subs[0]),
    )
    second = expect(again, 201)["data"]
    customer_id = await customer_of(db, second["id"])
    creates = [r for r in await audit_rows(db, [customer_id]) if r["action"] == "create"]
    assert len(creates) == 1  # the customer was created once, not again


async def test_refused_hold_leaves_no_audit_row(
    sale: Sale,
) -> None:
    client, headers_for, db = sale.client, sale.headers_for, sale.db
    event, ticket_type = sale.event, sale.ticket_type
    sub = f"late-{uuid.uuid4().hex}"
    first = await client.post(
        f"/api/v1/events/{event['id']}/reservations",
        json={"ticket_type_id": ticket_type["id"], "quantity": 1},
        headers={**headers_for("customer", sub=sub), "X-Request-ID": f"req-{sub}"},
    )
    assert first.status_code == 201
    async with db.begin() as conn:
        await conn.execute(
            sa.text("UPDATE ticket_types SET quantity = reserved WHERE id = :id"),
            {"id": ticket_type["id"]},
        )
    for headers in (
        {**headers_for("customer", sub=sub), "X-Request-ID": f"refused-{sub}"},
        {
            **headers_for("customer", sub=sub),
            "X-Request-ID": f"refused-{sub}",
            "Idempotency-Key": sub,
        },
    ):
        answer = await client.post(
            f"/api/v1/events/{event['id']}/reservations",
            json={"ticket_type_id": ticket_type["id"], "quantity": 1},
            headers=headers,
        )
        assert answer.status_code == 409, answer.text
    async with db.connect() as conn:
        count = await conn.scalar(
            sa.text("SELECT count(*) FROM audit_log WHERE request_id = :r"),
            {"r": f"refused-{sub}"},
        )
    assert count == 0


async def test_sale_release_confirm_refund_and_notifications_are_audited(
    sale: Sale,
) -> None:
    client, headers_for, db = sale.client, sale.headers_for, sale.db
    event, ticket_type = sale.event, sale.ticket_type
    owner = headers_for(
        "venue_admin", sub=f"boss-{uuid.uuid4().hex[:8]}", venue_ids=[event["venue_id"]]
    )
    url = f"/api/v1/events/{event['id']}/reservations"
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    body = {"ticket_type_id": ticket_type["id"], "quantity": 2, "customer": {"email": email}}
    box_office = expect(
        await client.post(url, json=body, headers={**owner, "X-Request-ID": "req-box-office"}), 201
    )["data"]
    customer_id = await customer_of(db, box_office["id"])
    rows = await audit_rows(db, [box_office["id"], customer_id])
    assert [(r["action"], r["entity_type"], r["request_id"]) for r in rows] == [
        ("create", "customer", "req-box-office"),
        ("create", "reservation", "req-box-office"),
    ]
    assert {r["actor_role"] for r in rows} == {"venue_admin"}

    sub = f"buyer-{uuid.uuid4().hex}"
    buyer = headers_for("customer", sub=sub)
    keyed = expect(
        await client.post(
            url,
            json={"ticket_type_id": ticket_type["id"], "quantity": 1},
            headers={**buyer, "Idempotency-Key": uuid.uuid4().hex, "X-Request-ID": "req-keyed"},
        ),
        201,
    )["data"]
    released = expect(
        await client.delete(
            f"/api/v1/reservations/{keyed['id']}", headers={**buyer, "X-Request-ID": "req-release"}
        ),
        200,
    )["data"]
    assert released["status"] == "released"
    rows = await audit_rows(db, [keyed["id"]])
    assert [(r["action"], r["request_id"]) for r in rows] == [
        ("create", "req-keyed"),
        ("release", "req-release"),
    ]
    assert rows[1]["before"]["status"] == "held" and rows[1]["after"]["status"] == "released"

    order = expect(
        await client.post(
            f"/api/v1/reservations/{box_office['id']}/confirm",
            headers={**owner, "X-Request-ID": "req-confirm"},
        ),
        201,
    )["data"]
    rows = await audit_rows(db, [box_office["id"], order["id"]])
    confirm_rows = [
        (r["action"], r["entity_type"]) for r in rows if r["request_id"] == "req-confirm"
    ]
    assert confirm_rows == [("confirm", "reservation"), ("create", "order")] or confirm_rows == [
        ("create", "order"),
        ("confirm", "reservation"),
    ]

    await mark_paid(db, order["id"])
    expect(
        await client.post(
            f"/api/v1/orders/{order['id']}/refund",
            json={"amount": "10.00"},
            headers={**owner, "X-Request-ID": "req-refund"},
        ),
        202,
    )
    refund = [r for r in await audit_rows(db, [order["id"]]) if r["request_id"] == "req-refund"]
    assert [(r["action"], r["entity_type"]) for r in refund] == [("refund", "order")]
    assert refund[0]["before"]["refunded_amount"] == "0.00"
    # The refund is pending until the provider confirms it; the row names what was queued.
    assert refund[0]["after"]["refunded_amount"] == "0.00"
    assert refund[0]["after"]["refund"]["amount"] == "10.00"
    assert refund[0]["after"]["refund"]["status"] == "pending"

    admin = headers_for("admin", sub="notifier")
    note = expect(
        await client.post(
            "/api/v1/notifications",
            json={"user_id": sub, "type": "info", "title": "Hi", "message": "Doors at 7"},
            headers={**admin, "X-Request-ID": "req-note"},
        ),
        201,
    )["data"]
    expect(
        await client.put(
            f"/api/v1/notifications/{note['id']}/read",
            headers={**buyer, "X-Request-ID": "req-read"},
        ),
        200,
    )
    rows = await audit_rows(db, [note["id"]])
    assert [(r["action"], r["entity_type"], r["actor_id"], r["request_id"]) for r in rows] == [
        ("create", "notification", "notifier", "req-note"),
        ("read", "notification", sub, "req-read"),
    ]


async def test_event_cancellation_audits_each_order_it_refunds_or_cancels(
    sale: Sale,
) -> None:
    client, headers_for, db = sale.client, sale.headers_for, sale.db
    event, ticket_type = sale.event, sale.ticket_type
    admin = headers_for("admin", sub="canceller")
    url = f"/api/v1/events/{event['id']}/reservations"
    orders = []
    for _ in range(2):
        body = {
            "ticket_type_id": ticket_type["id"],
            "quantity": 1,
            "customer": {"email": f"{uuid.uuid4().hex[:10]}@example.com"},
        }
        held = expect(await client.post(url, json=body, headers=admin), 201)["data"]
        orders.append(
            expect(
                await client.post(f"/api/v1/reservations/{held['id']}/confirm", headers=admin), 201
            )["data"]
        )
    await mark_paid(db, orders[0]["id"])
    expect(
        await client.post(
            f"/api/v1/events/{event['id']}/cancel",
            json={"reason": "Flooded"},
            headers={**admin, "X-Request-ID": "req-cancel"},
        ),
        200,
    )
    rows = [
        r
        for r in await audit_rows(db, [o["id"] for o in orders])
        if r["request_id"] == "req-cancel"
    ]
    assert sorted((r["entity_id"], r["action"]) for r in rows) == sorted(
        [(orders[0]["id"], "refund"), (orders[1]["id"], "cancel")]
    )
    assert {r["actor_id"] for r in rows} == {"canceller"}


async def test_the_platforms_own_writes_are_audited_as_the_system(
    sale: Sale,
    database_url: str,
) -> None:
    """A hold the sweeper expires, an event the last sale marks sold out."""
    client, headers_for, db = sale.client, sale.headers_for, sale.db
    event, ticket_type = sale.event, sale.ticket_type
    url = f"/api/v1/events/{event['id']}/reservations"
    body = {"ticket_type_id": ticket_type["id"], "quantity": 1}
    expiring = expect(
        await client.post(url, json=body, headers=headers_for("customer", sub=uuid.uuid4().hex)),
        201,
    )["data"]
    async with db.begin() as conn:
        await conn.execute(
            sa.text(
                "UPDATE reservations SET expires_at = now() - interval '1 minute' WHERE id = :id"
            ),
            {"id": expiring["id"]},
        )
    database = Database(database_url, pool_min=1, pool_max=2)
    try:
        assert await sweep_expired_holds(database) >= 1
    finally:
        await database.dispose()
    rows = [r for r in await audit_rows(db, [expiring["id"]]) if r["action"] == "expire"]
    assert len(rows) == 1 and rows[0]["actor_role"] == "system"
    assert rows[0]["after"]["status"] == "expired"

    async with db.begin() as conn:
        await conn.execute(
            sa.text("UPDATE ticket_types SET quantity = reserved + 1 WHERE id = :id"),
            {"id": ticket_type["id"]},
        )
    expect(
        await client.post(url, json=body, headers=headers_for("customer", sub=uuid.uuid4().hex)),
        201,
    )
    status = [
        (r["before"]["status"], r["after"]["status"], r["actor_role"])
        for r in await audit_rows(db, [event["id"]])
        if r["action"] == "update"
    ]
    assert status == [("published", "sold_out", "system")]
