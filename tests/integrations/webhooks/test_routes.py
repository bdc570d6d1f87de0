"""The venue routes: a venue's deliveries as a typed page, only for callers of that venue;
failed deliveries re-queued and applied."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import httpx
from tests.integrations.webhooks.support import PATH, apply_queued, scalar, seed_order
from tests.support import auth_header

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
