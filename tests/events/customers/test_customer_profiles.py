"""Customer profiles: figures checked against the orders written here; who may see whom."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from tests.events.reports.sales_rows import insert_customer, insert_order
from tests.events.reservations.sales_catalog import insert_catalog
from tests.support import auth_header


async def test_profile_statistics_history_categories_and_upcoming_events(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    token_for: Callable[..., str],
) -> None:
    concert = await insert_catalog(committed_session, category="concert", price=Decimal("30"))
    comedy = await insert_catalog(
        committed_session, venue_id=concert.venue_id, category="comedy", price=Decimal("20")
    )
    past = await insert_catalog(
        committed_session,
        venue_id=concert.venue_id,
        category="comedy",
        starts_in=-timedelta(days=5),
    )
    user = f"fan-{uuid.uuid4().hex}"
    customer = await insert_customer(committed_session, concert.venue_id, user_id=user)
    now = datetime.now(UTC)
    orders = [
        (concert, 2, Decimal("30.00"), "paid", Decimal("0")),
        (concert, 2, Decimal("30.00"), "paid", Decimal("0")),
        (comedy, 1, Decimal("20.00"), "partially_refunded", Decimal("5.00")),
        (past, 3, Decimal("10.00"), "paid", Decimal("0")),
        (comedy, 4, Decimal("20.00"), "cancelled", Decimal("0")),
    ]
    for catalog, quantity, price, status, refunded in orders:
        await insert_order(
            committed_session,
            customer_id=customer,
            event_id=catalog.event_id,
            ticket_type_id=catalog.ticket_type_id,
            quantity=quantity,
            unit_price=price,
            status=status,
            paid_at=now - timedelta(days=1) if status != "cancelled" else None,
            refunded=refunded,
            ticket_status="issued" if status != "cancelled" else "invalidated",
        )
    await committed_session.commit()

    own = auth_header(token_for("customer", sub=user))
    response = await sales_client.get(f"/api/v1/customers/{customer}/profile", headers=own)
    assert response.status_code == 200, response.text
    profile = response.json()["data"]
    paid = [o for o in orders if o[3] != "cancelled"]
    gross = sum(o[1] * o[2] for o in paid)
    refunds = sum(o[4] for o in paid)
    stats = profile["statistics"]
    assert stats["orders"] == len(paid)
    assert stats["tickets"] == sum(o[1] for o in paid)
    assert stats["gross"] == f"{gross:.2f}"
    assert stats["net"] == f"{gross - refunds:.2f}"
    assert len(profile["purchase_history"]) == len(orders)
    categories = {c["category"]: c["tickets"] for c in profile["favourite_categories"]}
    assert categories == {"concert": 4, "comedy": 4}
    upcoming = {e["id"]: e["tickets"] for e in profile["upcoming_events"]}
    assert upcoming == {str(concert.event_id): 4, str(comedy.event_id): 1}


async def test_profile_access(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    token_for: Callable[..., str],
) -> None:
    catalog = await insert_catalog(committed_session)
    user = f"fan-{uuid.uuid4().hex}"
    customer = await insert_customer(committed_session, catalog.venue_id, user_id=user)
    await committed_session.commit()
    path = f"/api/v1/customers/{customer}/profile"
    assert (await sales_client.get(path)).status_code == 401
    someone = auth_header(token_for("customer", sub="someone-else"))
    assert (await sales_client.get(path, headers=someone)).status_code == 404
    other_staff = auth_header(token_for("venue_staff", venue_ids=[str(uuid.uuid4())]))
    assert (await sales_client.get(path, headers=other_staff)).status_code == 404
    staff = auth_header(token_for("venue_staff", venue_ids=[str(catalog.venue_id)]))
    assert (await sales_client.get(path, headers=staff)).status_code == 200
    assert (
        await sales_client.get(f"/api/v1/customers/{uuid.uuid4()}/profile", headers=staff)
    ).status_code == 404
    bad = await sales_client.get("/api/v1/customers/nope/profile", headers=staff)
    assert bad.status_code == 422 and bad.json()["code"] == "VALIDATION_ERROR"
