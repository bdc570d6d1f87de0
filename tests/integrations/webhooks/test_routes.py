"""The venue routes: a venue's deliveries as a typed page, only for callers of that venue;
failed deliveries re-queued and applied."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import httpx
import pytest
from fastapi import APIRouter, Depends, Request, Response
from tests.integrations.webhooks.support import (
    PATH,
    apply_queued,
    scalar,
    seed_order,
    stripe_event,
    stripe_header,
)
from tests.support import auth_header

from tickettoken.integrations.webhooks.routes import DeliveryRoute
from tickettoken.integrations.webhooks.schemas import WebhookReceipt
from tickettoken.kit.contracts import Ok
from tickettoken.kit.db import Database
from tickettoken.kit.settings import Settings


async def failed_delivery(wdb: Database, venue: uuid.UUID) -> uuid.UUID:
    change = {"realm_id": "R", "entity": "customer", "entity_id": "1", "operation": "update"}
    return uuid.UUID(
        str(
            await scalar(
                wdb,
                "INSERT INTO integration_webhooks (venue_id, integration_type, event_type,"
                " payload, status, error, external_id) VALUES (:v, 'quickbooks',"
                " 'qbo.customer.update', CAST(:p AS jsonb), 'failed', 'boom', :e) RETURNING id",
                v=venue,
                p=json.dumps(change),
                e=f"qbo:{uuid.uuid4().hex}",
            )
        )
    )


async def test_events_page_is_venue_scoped_and_retry_requeues_failed(
    app_client: httpx.AsyncClient,
    wdb: Database,
    settings_for_webhooks: Settings,
    token_for: Callable[..., str],
) -> None:
    venue = (await seed_order(wdb))["venue_id"]
    webhook_id = await failed_delivery(wdb, venue)
    mine = auth_header(token_for("venue_admin", venue_ids=[str(venue)]))
    other = auth_header(token_for("venue_admin", venue_ids=[str(uuid.uuid4())]))

    assert (await app_client.get(f"{PATH}/quickbooks/events")).status_code == 401
    assert (
        await app_client.get(f"{PATH}/quickbooks/events?venue_id={venue}", headers=other)
    ).status_code == 404
    assert (await app_client.get(f"{PATH}/paypal/events", headers=mine)).status_code == 422
    page = await app_client.get(f"{PATH}/quickbooks/events?status=failed", headers=mine)
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["pagination"]["total"] == 1
    assert body["data"][0]["id"] == str(webhook_id) and body["data"][0]["error"] == "boom"

    refused = await app_client.post(f"{PATH}/retry", json={"venue_id": str(venue)}, headers=other)
    assert refused.status_code == 404
    retried = await app_client.post(f"{PATH}/retry", json={"venue_id": str(venue)}, headers=mine)
    assert retried.status_code == 200, retried.text
    assert retried.json()["data"] == {"requeued": 1, "webhook_ids": [str(webhook_id)]}
    await apply_queued(wdb, settings_for_webhooks)
    status = await scalar(
        wdb,
        "SELECT status || ' ' || retry_count FROM integration_webhooks WHERE id = :i",
        i=webhook_id,
    )
    assert status == "processed 1"
    again = await app_client.post(f"{PATH}/retry", json={"venue_id": str(venue)}, headers=mine)
    assert again.json()["data"]["requeued"] == 0


async def test_a_delivery_is_answered_with_the_declared_receipt(
    app_client: httpx.AsyncClient,
) -> None:
    """The delivery routes build their answer themselves: it is still ``Ok[WebhookReceipt]``
    as JSON, with the request id, for a new event and for its copy."""
    body = stripe_event()
    headers = {"Stripe-Signature": stripe_header(body), "X-Request-ID": "hook-receipt-1"}
    for expected in (
        WebhookReceipt(received=1, duplicates=0),
        WebhookReceipt(received=0, duplicates=1),
    ):
        answer = await app_client.post(f"{PATH}/stripe", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["x-request-id"] == "hook-receipt-1"
        assert Ok[WebhookReceipt].model_validate_json(answer.content).data == expected


def test_a_delivery_route_takes_the_request_only() -> None:
    """Its handler is the endpoint itself: parameters or dependencies would be skipped, so an
    endpoint that declares any is refused when the route is made."""

    async def needs_a_query(request: Request, page: int) -> Response:
        return Response()

    async def needs_a_dependency(request: Request, _: None = Depends(lambda: None)) -> Response:
        return Response()

    for endpoint in (needs_a_query, needs_a_dependency):
        with pytest.raises(TypeError, match="takes the Request only"):
            APIRouter().add_api_route(
                "/x", endpoint, methods=["POST"], route_class_override=DeliveryRoute
            )
