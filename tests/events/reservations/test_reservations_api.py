"""Reservations over HTTP: holds, limits, sales windows, release, visibility and expiry."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tests.events.reservations.sales_catalog import Catalog, insert_catalog, ticket_counts
from tests.support import auth_header, running_app

from tickettoken.events.app import create_app
from tickettoken.events.reservations.settings import SalesSettings
from tickettoken.kit.settings import Settings

Headers = Callable[[str], dict[str, str]]


def buyer(sub: str | None = None) -> dict[str, str]:
    return {"email": f"{sub or uuid.uuid4().hex[:10]}@example.com", "first_name": "Ada"}


async def committed_catalog(session: AsyncSession, **options: object) -> Catalog:
    catalog = await insert_catalog(session, **options)  # type: ignore[arg-type]
    await session.commit()
    return catalog


async def reserve(
    client: httpx.AsyncClient,
    catalog: Catalog,
    headers: dict[str, str],
    quantity: int = 2,
    email: str | None = None,
) -> httpx.Response:
    return await client.post(
        f"/api/v1/events/{catalog.event_id}/reservations",
        json={
            "ticket_type_id": str(catalog.ticket_type_id),
            "quantity": quantity,
            "customer": buyer() if email is None else {"email": email},
        },
        headers=headers,
    )


async def test_a_hold_locks_quantity_and_price(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    customer_headers: Headers,
    database_url: str,
) -> None:
    catalog = await committed_catalog(committed_session, quantity=10, price=Decimal("19.99"))
    response = await reserve(sales_client, catalog, customer_headers("alice"), quantity=3)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["status"] == "held"
    assert data["quantity"] == 3
    assert data["unit_price"] == "19.99"
    assert data["total"] == "59.97"
    expires = datetime.fromisoformat(data["expires_at"])
    assert timedelta(minutes=14) < expires - datetime.now(UTC) <= timedelta(minutes=15, seconds=5)
    assert await ticket_counts(database_url, catalog.ticket_type_id) == (10, 0, 3)


async def test_sold_out_is_409_and_holds_nothing(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    customer_headers: Headers,
    database_url: str,
) -> None:
    catalog = await committed_catalog(committed_session, quantity=5)
    assert (await reserve(sales_client, catalog, customer_headers("a"), 4)).status_code == 201
    refused = await reserve(sales_client, catalog, customer_headers("b"), 2)
    assert refused.status_code == 409
    assert refused.json()["code"] == "CONFLICT"
    assert await ticket_counts(database_url, catalog.ticket_type_id) == (5, 0, 4)
    assert (await reserve(sales_client, catalog, customer_headers("c"), 1)).status_code == 201


async def test_order_limits(
    sales_client: httpx.AsyncClient, committed_session: AsyncSession, customer_headers: Headers
) -> None:
    catalog = await committed_catalog(committed_session, quantity=100, max_per_order=4)
    assert (await reserve(sales_client, catalog, customer_headers("x"), 5)).status_code == 409
    too_many = await reserve(sales_client, catalog, customer_headers("x"), 11)
    assert too_many.status_code == 422
    assert too_many.json()["code"] == "VALIDATION_ERROR"
    assert (await reserve(sales_client, catalog, customer_headers("x"), 0)).status_code == 422


async def test_at_most_50_tickets_per_customer_and_event(
    sales_client: httpx.AsyncClient, committed_session: AsyncSession, customer_headers: Headers
) -> None:
    catalog = await committed_catalog(committed_session, quantity=200, max_per_order=10)
    sub = f"big-{uuid.uuid4().hex}"
    headers = customer_headers(sub)
    email = f"{sub}@example.com"
    results = await asyncio.gather(
        *(reserve(sales_client, catalog, headers, 10, email) for _ in range(7))
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201] * 5 + [409] * 2


async def test_sales_windows(
    sales_client: httpx.AsyncClient, committed_session: AsyncSession, customer_headers: Headers
) -> None:
    now = datetime.now(UTC)
    not_yet = await committed_catalog(committed_session, sale_start=now + timedelta(hours=1))
    ended = await committed_catalog(
        committed_session, sale_start=now - timedelta(days=2), sale_end=now - timedelta(hours=1)
    )
    closing = await committed_catalog(committed_session, starts_in=timedelta(minutes=20))
    draft = await committed_catalog(committed_session, status="draft")
    for catalog in (not_yet, ended, closing, draft):
        assert (await reserve(sales_client, catalog, customer_headers("w"))).status_code == 409


async def test_visibility_and_release(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    customer_headers: Headers,
    token_for: Callable[..., str],
    database_url: str,
) -> None:
    catalog = await committed_catalog(committed_session, quantity=10)
    owner = customer_headers(f"owner-{uuid.uuid4().hex}")
    held = (await reserve(sales_client, catalog, owner, 2)).json()["data"]
    path = f"/api/v1/reservations/{held['id']}"
    assert (await sales_client.get(path)).status_code == 401
    assert (
        await sales_client.get(path, headers=customer_headers("someone-else"))
    ).status_code == 404
    other_staff = auth_header(token_for("venue_staff", venue_ids=[str(uuid.uuid4())]))
    assert (await sales_client.get(path, headers=other_staff)).status_code == 404
    staff = auth_header(token_for("venue_staff", venue_ids=[str(catalog.venue_id)]))
    assert (await sales_client.get(path, headers=staff)).json()["data"]["id"] == held["id"]
    assert (await sales_client.get(path, headers=owner)).json()["data"]["status"] == "held"
    assert (
        await sales_client.delete(path, headers=customer_headers("someone-else"))
    ).status_code == 404
    released = await sales_client.delete(path, headers=owner)
    assert released.status_code == 200
    assert released.json()["data"]["status"] == "released"
    assert await ticket_counts(database_url, catalog.ticket_type_id) == (10, 0, 0)
    assert (await sales_client.delete(path, headers=owner)).status_code == 409
    bad = await sales_client.get("/api/v1/reservations/not-a-uuid", headers=owner)
    assert bad.status_code == 422
    assert bad.json()["success"] is False


async def test_staff_sell_only_at_their_venues(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    token_for: Callable[..., str],
) -> None:
    catalog = await committed_catalog(committed_session)
    stranger = auth_header(token_for("venue_admin", venue_ids=[str(uuid.uuid4())]))
    assert (await reserve(sales_client, catalog, stranger)).status_code == 404
    manager = auth_header(token_for("venue_admin", venue_ids=[str(catalog.venue_id)]))
    assert (await reserve(sales_client, catalog, manager)).status_code == 201
    no_buyer = await sales_client.post(
        f"/api/v1/events/{catalog.event_id}/reservations",
        json={"ticket_type_id": str(catalog.ticket_type_id), "quantity": 1},
        headers=manager,
    )
    assert no_buyer.status_code == 422
    assert (await reserve(sales_client, catalog, {})).status_code == 401


async def test_expired_holds_return_to_sale_without_a_request(
    settings: Settings,
    committed_session: AsyncSession,
    customer_headers: Headers,
    database_url: str,
) -> None:
    catalog = await committed_catalog(committed_session, quantity=6)
    app = create_app(settings)
    app.state.sales_settings = SalesSettings(reservation_hold="1s", reservation_sweep_interval="1s")
    async with running_app(app) as client:
        held = (await reserve(client, catalog, customer_headers("late"), 6)).json()["data"]
        assert await ticket_counts(database_url, catalog.ticket_type_id) == (6, 0, 6)
        for _ in range(40):
            await asyncio.sleep(0.25)
            if await ticket_counts(database_url, catalog.ticket_type_id) == (6, 0, 0):
                break
        assert await ticket_counts(database_url, catalog.ticket_type_id) == (6, 0, 0)
        row = (
            await committed_session.execute(
                text("SELECT status FROM reservations WHERE id = :id"), {"id": held["id"]}
            )
        ).scalar_one()
        assert row == "expired"


async def test_a_customer_token_alone_is_enough_to_buy(
    sales_client: httpx.AsyncClient, committed_session: AsyncSession, customer_headers: Headers
) -> None:
    catalog = await committed_catalog(committed_session, quantity=10)
    headers = customer_headers(f"bare-{uuid.uuid4().hex}")
    body = {"ticket_type_id": str(catalog.ticket_type_id), "quantity": 1}
    path = f"/api/v1/events/{catalog.event_id}/reservations"
    first = await sales_client.post(path, json=body, headers=headers)
    second = await sales_client.post(path, json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["data"]["customer_id"] == second.json()["data"]["customer_id"]
    unknown = await sales_client.post(
        path, json={**body, "ticket_type_id": str(uuid.uuid4())}, headers=headers
    )
    assert unknown.status_code == 404


async def test_the_locked_price_applies_the_pricing_rules_on_both_paths(
    sales_client: httpx.AsyncClient, committed_session: AsyncSession, customer_headers: Headers
) -> None:
    catalog = await insert_catalog(committed_session, quantity=20, price=Decimal("50.00"))
    await committed_session.execute(
        text(
            "INSERT INTO pricing_rules (ticket_type_id, rule_type, conditions, adjustment_type,"
            " adjustment_value, priority) VALUES (:tt, 'group', '{\"min_quantity\": 2}',"
            " 'percentage', -10, 1)"
        ),
        {"tt": catalog.ticket_type_id},
    )
    await committed_session.commit()
    path = f"/api/v1/events/{catalog.event_id}/reservations"
    for quantity, unit in ((1, "50.00"), (2, "45.00")):
        body = {"ticket_type_id": str(catalog.ticket_type_id), "quantity": quantity}
        bare = await sales_client.post(
            path, json=body, headers=customer_headers(f"p-{uuid.uuid4().hex}")
        )
        detailed = await reserve(
            sales_client, catalog, customer_headers(f"q-{uuid.uuid4().hex}"), quantity
        )
        assert bare.json()["data"]["unit_price"] == detailed.json()["data"]["unit_price"] == unit


async def test_release_needs_a_token_and_a_valid_id(
    sales_client: httpx.AsyncClient, committed_session: AsyncSession, customer_headers: Headers
) -> None:
    catalog = await committed_catalog(committed_session)
    owner = customer_headers(f"owner-{uuid.uuid4().hex}")
    held = (await reserve(sales_client, catalog, owner, 1)).json()["data"]
    assert (await sales_client.delete(f"/api/v1/reservations/{held['id']}")).status_code == 401
    invalid = await sales_client.delete("/api/v1/reservations/zzz", headers=owner)
    assert invalid.status_code == 422 and invalid.json()["code"] == "VALIDATION_ERROR"
    missing = await sales_client.delete(f"/api/v1/reservations/{uuid.uuid4()}", headers=owner)
    assert missing.status_code == 404


async def test_the_50_ticket_limit_holds_on_the_token_only_path_too(
    sales_client: httpx.AsyncClient, committed_session: AsyncSession, customer_headers: Headers
) -> None:
    catalog = await committed_catalog(committed_session, quantity=200, max_per_order=10)
    headers = customer_headers(f"bare-big-{uuid.uuid4().hex}")
    body = {"ticket_type_id": str(catalog.ticket_type_id), "quantity": 10}
    path = f"/api/v1/events/{catalog.event_id}/reservations"
    results = await asyncio.gather(
        *(sales_client.post(path, json=body, headers=headers) for _ in range(7))
    )
    assert sorted(r.status_code for r in results) == [201] * 5 + [409] * 2
