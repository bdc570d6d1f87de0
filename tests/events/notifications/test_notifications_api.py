"""Notifications: create, list with the unread count, mark read; owner only (404 otherwise)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from tests.events.reports.sales_rows import insert_customer
from tests.events.reservations.sales_catalog import insert_catalog
from tests.support import auth_header


async def test_notifications_flow_and_ownership(
    sales_client: httpx.AsyncClient, token_for: Callable[..., str]
) -> None:
    user = f"user-{uuid.uuid4().hex}"
    admin = auth_header(token_for("admin"))
    owner = auth_header(token_for("customer", sub=user))
    stranger = auth_header(token_for("customer", sub=f"other-{uuid.uuid4().hex}"))
    created = []
    for index in range(3):
        response = await sales_client.post(
            "/api/v1/notifications",
            json={"user_id": user, "type": "info", "title": f"T{index}", "message": "hello"},
            headers=admin,
        )
        assert response.status_code == 201, response.text
        created.append(response.json()["data"])
    path = f"/api/v1/users/{user}/notifications"
    listing = (await sales_client.get(path, headers=owner)).json()["data"]
    assert listing["unread_count"] == 3
    assert [n["title"] for n in listing["notifications"]] == ["T2", "T1", "T0"]
    assert (await sales_client.get(path, headers=stranger)).status_code == 404
    assert (await sales_client.get(path)).status_code == 401

    read_path = f"/api/v1/notifications/{created[0]['id']}/read"
    assert (await sales_client.put(read_path, headers=stranger)).status_code == 404
    assert (await sales_client.put(read_path, headers=admin)).status_code == 404
    assert (await sales_client.put(read_path)).status_code == 401
    marked = await sales_client.put(read_path, headers=owner)
    assert marked.status_code == 200
    assert marked.json()["data"]["status"] == "read" and marked.json()["data"]["read_at"]
    after = (await sales_client.get(path, headers=owner)).json()["data"]
    assert after["unread_count"] == 2
    unread = await sales_client.get(path, params={"status": "unread", "limit": 1}, headers=owner)
    assert len(unread.json()["data"]["notifications"]) == 1
    bad = await sales_client.get(path, params={"status": "maybe"}, headers=owner)
    assert bad.status_code == 422 and bad.json()["code"] == "VALIDATION_ERROR"
    assert (
        await sales_client.put("/api/v1/notifications/not-a-uuid/read", headers=owner)
    ).status_code == 422


async def test_who_may_send_notifications(
    sales_client: httpx.AsyncClient,
    committed_session: AsyncSession,
    token_for: Callable[..., str],
) -> None:
    catalog = await insert_catalog(committed_session)
    user = f"user-{uuid.uuid4().hex}"
    await insert_customer(committed_session, catalog.venue_id, user_id=user)
    await committed_session.commit()
    body = {"user_id": user, "type": "promo", "title": "Hi", "message": "Come back"}
    manager = auth_header(token_for("venue_admin", venue_ids=[str(catalog.venue_id)]))
    stranger = auth_header(token_for("venue_admin", venue_ids=[str(uuid.uuid4())]))
    customer = auth_header(token_for("customer", sub=user))
    assert (await sales_client.post("/api/v1/notifications", json=body)).status_code == 401
    assert (
        await sales_client.post("/api/v1/notifications", json=body, headers=manager)
    ).status_code == 201
    assert (
        await sales_client.post("/api/v1/notifications", json=body, headers=stranger)
    ).status_code == 404
    assert (
        await sales_client.post("/api/v1/notifications", json=body, headers=customer)
    ).status_code == 403
    invalid = await sales_client.post(
        "/api/v1/notifications", json={**body, "title": ""}, headers=manager
    )
    assert invalid.status_code == 422 and invalid.json()["success"] is False
