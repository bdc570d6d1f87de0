"""Request bodies accept the original platform's camelCase names (SPEC 3, Contracts); responses
and the OpenAPI stay snake_case, and an unknown name is still a 422."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from tests.events.conftest import expect, future, unique


async def test_an_event_and_a_reservation_are_created_from_camel_case_bodies(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    venue = expect(
        await client.post(
            "/api/v1/venues",
            json={"name": unique("Camel hall"), "capacity": 800, "postalCode": "12345"},
            headers=admin,
        ),
        201,
    )["data"]
    assert venue["postal_code"] == "12345"
    start = future(days=20)
    event = expect(
        await client.post(
            "/api/v1/events",
            json={
                "venueId": venue["id"],
                "name": unique("Camel night"),
                "startDate": start.isoformat(),
                "endDate": (start + timedelta(hours=2)).isoformat(),
                "doorsOpen": (start - timedelta(hours=1)).isoformat(),
                "imageUrl": "https://example.com/camel.png",
                "capacity": 300,
            },
            headers=admin,
        ),
        201,
    )["data"]
    assert event["venue_id"] == venue["id"]
    assert event["image_url"] == "https://example.com/camel.png"
    assert "venueId" not in event and "startDate" not in event
    ticket_type = expect(
        await client.post(
            f"/api/v1/events/{event['id']}/ticket-types",
            json={"name": "GA", "price": "30.00", "quantity": 50, "maxPerOrder": 4},
            headers=admin,
        ),
        201,
    )["data"]
    assert ticket_type["max_per_order"] == 4
    expect(await client.post(f"/api/v1/events/{event['id']}/publish", headers=admin), 200)
    held = expect(
        await client.post(
            f"/api/v1/events/{event['id']}/reservations",
            json={
                "ticketTypeId": ticket_type["id"],
                "quantity": 2,
                "customer": {"email": "camel@example.com", "firstName": "Ada"},
            },
            headers=admin,
        ),
        201,
    )["data"]
    assert held["ticket_type_id"] == ticket_type["id"]
    assert held["quantity"] == 2 and held["status"] == "held"


async def test_unknown_names_are_still_refused(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body: dict[str, Any] = {"name": unique("Typo hall"), "capacity": 10, "postCode": "1"}
    response = await client.post("/api/v1/venues", json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["details"][0]["field"] == "body.postCode"


async def test_the_openapi_names_fields_in_snake_case(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    assert "venue_id" in schemas["EventCreate"]["properties"]
    assert "venueId" not in schemas["EventCreate"]["properties"]
    assert "ticket_type_id" in schemas["ReservationCreate"]["properties"]
