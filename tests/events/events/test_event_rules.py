"""Event creation and update rules of SPEC 4.2, checked through the API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.events.conftest import future, unique
from tests.events.events.started_events import move_start_into_the_past

Json = dict[str, Any]


def event_body(venue: Json, **overrides: Any) -> Json:
    start = future(days=10)
    return {
        "venue_id": venue["id"],
        "name": unique("Show"),
        "category": "comedy",
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(hours=2)).isoformat(),
        "capacity": 100,
        **overrides,
    }


async def test_created_event_is_a_lowercase_draft_with_every_field(
    client: httpx.AsyncClient, admin: dict[str, str], new_venue: Callable[..., Awaitable[Json]]
) -> None:
    venue = await new_venue()
    body = event_body(venue, description="Stand-up", image_url="https://img.example/x.png")
    created = await client.post("/api/v1/events", json=body, headers=admin)
    assert created.status_code == 201, created.text
    event = created.json()["data"]
    assert event["status"] == "draft" and event["category"] == "comedy"
    assert event["venue_id"] == venue["id"] and event["description"] == "Stand-up"


async def test_date_window_and_capacity_are_validated(
    client: httpx.AsyncClient, admin: dict[str, str], new_venue: Callable[..., Awaitable[Json]]
) -> None:
    venue = await new_venue(capacity=200)
    too_soon = future(hours=1)
    too_late = future(days=400)
    for overrides in [
        {
            "start_date": too_soon.isoformat(),
            "end_date": (too_soon + timedelta(hours=1)).isoformat(),
        },
        {
            "start_date": too_late.isoformat(),
            "end_date": (too_late + timedelta(hours=1)).isoformat(),
        },
        {"end_date": future(days=9).isoformat()},
        {"capacity": 201},
        {"category": "opera"},
        {"doors_open": "0001-01-01T00:00:00+14:00"},
        {"start_date": "2027-01-01T20:00:00"},
    ]:
        response = await client.post(
            "/api/v1/events", json=event_body(venue, **overrides), headers=admin
        )
        assert response.status_code == 422, (overrides, response.text)
        assert response.json()["code"] == "VALIDATION_ERROR"


async def test_duplicate_name_same_venue_same_day_is_409_case_insensitively(
    client: httpx.AsyncClient, admin: dict[str, str], new_venue: Callable[..., Awaitable[Json]]
) -> None:
    venue = await new_venue()
    body = event_body(venue, name="Big Night")
    assert (await client.post("/api/v1/events", json=body, headers=admin)).status_code == 201
    twin = {**body, "name": "BIG night"}
    assert (await client.post("/api/v1/events", json=twin, headers=admin)).status_code == 409
    other_day = event_body(
        venue,
        name="Big Night",
        start_date=future(days=12).isoformat(),
        end_date=future(days=12, hours=2).isoformat(),
    )
    assert (await client.post("/api/v1/events", json=other_day, headers=admin)).status_code == 201
    other_venue = {**body, "venue_id": (await new_venue())["id"]}
    assert (await client.post("/api/v1/events", json=other_venue, headers=admin)).status_code == 201


async def test_venue_must_exist_and_be_the_callers(
    client: httpx.AsyncClient,
    headers_for: Callable[..., dict[str, str]],
    new_venue: Callable[..., Awaitable[Json]],
) -> None:
    mine, theirs = await new_venue(), await new_venue()
    owner = headers_for("venue_admin", venue_ids=[mine["id"]])
    ok = await client.post("/api/v1/events", json=event_body(mine), headers=owner)
    assert ok.status_code == 201
    refused = await client.post("/api/v1/events", json=event_body(theirs), headers=owner)
    assert refused.status_code == 404
    staff = headers_for("venue_staff", venue_ids=[mine["id"]])
    assert (
        await client.post("/api/v1/events", json=event_body(mine), headers=staff)
    ).status_code == 403
    customer = headers_for("customer")
    assert (
        await client.post("/api/v1/events", json=event_body(mine), headers=customer)
    ).status_code == 403


async def test_update_moves_and_validates(
    client: httpx.AsyncClient, admin: dict[str, str], new_event: Callable[..., Awaitable[Json]]
) -> None:
    event = await new_event()
    path = f"/api/v1/events/{event['id']}"
    moved = await client.put(path, json={"name": "Renamed", "capacity": 400}, headers=admin)
    assert moved.status_code == 200 and moved.json()["data"]["name"] == "Renamed"
    bad_end = await client.put(path, json={"end_date": future(days=1).isoformat()}, headers=admin)
    assert bad_end.status_code == 422
    too_soon = await client.put(
        path, json={"start_date": future(hours=1).isoformat()}, headers=admin
    )
    assert too_soon.status_code == 422
    assert (await client.put(path, json={"status": "cancelled"}, headers=admin)).status_code == 409


async def test_sum_of_ticket_types_bounds_capacity_changes(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    new_event: Callable[..., Awaitable[Json]],
    new_ticket_type: Callable[..., Awaitable[Json]],
) -> None:
    event = await new_event(capacity=300)
    await new_ticket_type(event, quantity=200)
    path = f"/api/v1/events/{event['id']}"
    assert (await client.put(path, json={"capacity": 150}, headers=admin)).status_code == 409
    assert (
        await client.put(f"{path}/capacity", json={"capacity": 199}, headers=admin)
    ).status_code == 409
    resized = await client.put(f"{path}/capacity", json={"capacity": 250}, headers=admin)
    assert resized.json()["data"] == {"total": 250, "sold": 0, "reserved": 0, "available": 250}


async def test_past_events_cannot_be_modified(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    new_event: Callable[..., Awaitable[Json]],
    db: AsyncEngine,
) -> None:
    event = await new_event()
    async with db.begin() as conn:
        await conn.execute(
            sa.text(
                "UPDATE events SET start_date = now() - interval '2 days',"
                " end_date = now() - interval '1 day' WHERE id = :id"
            ),
            {"id": event["id"]},
        )
    path = f"/api/v1/events/{event['id']}"
    assert (await client.put(path, json={"name": "Too late"}, headers=admin)).status_code == 409
    assert (await client.post(f"{path}/publish", headers=admin)).status_code == 409


async def test_soft_delete_hides_the_event_and_sold_tickets_block_it(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    new_event: Callable[..., Awaitable[Json]],
    new_ticket_type: Callable[..., Awaitable[Json]],
    db: AsyncEngine,
) -> None:
    event = await new_event()
    path = f"/api/v1/events/{event['id']}"
    assert (await client.delete(path, headers=admin)).status_code == 200
    assert (await client.get(path, headers=admin)).status_code == 404
    async with db.connect() as conn:
        deleted_at = await conn.scalar(
            sa.text("SELECT deleted_at FROM events WHERE id = :id"), {"id": event["id"]}
        )
    assert deleted_at is not None

    sold = await new_event()
    ticket_type = await new_ticket_type(sold)
    async with db.begin() as conn:
        await conn.execute(
            sa.text("UPDATE ticket_types SET sold = 3 WHERE id = :id"), {"id": ticket_type["id"]}
        )
    response = await client.delete(f"/api/v1/events/{sold['id']}", headers=admin)
    assert response.status_code == 409 and response.json()["code"] == "CONFLICT"


async def test_every_write_leaves_an_audit_record(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    new_event: Callable[..., Awaitable[Json]],
    new_ticket_type: Callable[..., Awaitable[Json]],
    db: AsyncEngine,
) -> None:
    event = await new_event()
    await new_ticket_type(event)
    path = f"/api/v1/events/{event['id']}"
    request_id = "audit-" + event["id"][:8]
    await client.put(path, json={"name": "Audited"}, headers={**admin, "X-Request-ID": request_id})
    await client.post(f"{path}/publish", headers=admin)
    async with db.connect() as conn:
        rows = (
            (
                await conn.execute(
                    sa.text(
                        "SELECT action, actor_id, actor_role, before, after, request_id"
                        " FROM audit_log"
                        " WHERE entity_type = 'event' AND entity_id = :id ORDER BY created_at"
                    ),
                    {"id": event["id"]},
                )
            )
            .mappings()
            .all()
        )
    assert [r["action"] for r in rows] == ["create", "update", "publish"]
    update = rows[1]
    assert update["before"]["name"] != "Audited" and update["after"]["name"] == "Audited"
    assert update["request_id"] == request_id and update["actor_role"] == "admin"
    assert rows[2]["after"]["status"] == "published"


async def test_cancelled_and_completed_events_are_final_for_every_catalogue_write(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    db: AsyncEngine,
    published_event: Callable[..., Awaitable[tuple[Json, Json]]],
) -> None:
    cancelled, cancelled_type = await published_event()
    completed, completed_type = await published_event()
    await client.post(
        f"/api/v1/events/{cancelled['id']}/cancel", json={"reason": "Closed"}, headers=admin
    )
    await move_start_into_the_past(db, completed["id"])
    await client.put(
        f"/api/v1/events/{completed['id']}", json={"status": "completed"}, headers=admin
    )
    for event, ticket_type in ((cancelled, cancelled_type), (completed, completed_type)):
        path = f"/api/v1/events/{event['id']}"
        for method, url, body in [
            ("PUT", path, {"name": "Revived"}),
            ("PUT", f"{path}/capacity", {"capacity": 400}),
            ("POST", f"{path}/ticket-types", {"name": "Late", "price": "1", "quantity": 1}),
            ("PUT", f"{path}/ticket-types/{ticket_type['id']}", {"description": "x"}),
            (
                "POST",
                f"{path}/pricing-rules",
                {
                    "ticket_type_id": ticket_type["id"],
                    "rule_type": "group",
                    "conditions": {"min_quantity": 2},
                    "adjustment": {"type": "fixed", "value": "-1"},
                },
            ),
            ("POST", f"{path}/publish", None),
        ]:
            response = await client.request(method, url, json=body, headers=admin)
            assert response.status_code == 409, (event["status"], method, url, response.text)
