"""The echo of the sync's own push does not make the connection due; a change made at the
provider still does.

A real sync pushes to the sandbox; the sandbox signs and sends its webhooks for those writes
(held at a receiver until the sync has finished, so the test does not race the sync's commit),
then they are posted byte for byte to the integration app and applied by a real worker. Then
the object is changed at the provider through its API and that webhook must make the next sync
due."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tests.integrations.helpers import CONTROL, Sandbox
from tests.integrations.sync.conftest import FINISHED, admin, connect, seed_venue, sync_log
from tests.integrations.sync.test_customers import seed_customers
from tests.integrations.sync.test_transactions import refund_order, seed_order
from tests.integrations.webhooks.conftest import webhook_settings
from tests.integrations.webhooks.support import PATH, apply_queued, scalar
from tests.integrations.workers import communication_worker
from tests.sandbox.sandbox_threaded import serve_in_thread
from tests.support import running_app

from tickettoken.integrations.connections.clients import ProviderClients
from tickettoken.integrations.connections.credentials import access_credentials
from tickettoken.integrations.providers import QuickBooksProvider
from tickettoken.integrations.webhooks.parsing import quickbooks_events, square_events
from tickettoken.kit.db import Database
from tickettoken.kit.settings import Settings

BASE = "/api/v1/integrations"
SIGNATURES = ("x-square-hmacsha256-signature", "intuit-signature")
EVENTS = {"square": square_events, "quickbooks": quickbooks_events}


@dataclass
class Held:
    """Deliveries the sandbox made, kept until the test passes them on."""

    url: str
    bodies: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    def take(self) -> list[tuple[str, bytes, dict[str, str]]]:
        taken, self.bodies[:] = list(self.bodies), []
        return taken


@pytest.fixture(scope="module")
def held() -> Iterator[Held]:
    store = Held("")

    async def keep(request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k in SIGNATURES}
        store.bodies.append((request.path_params["provider"], await request.body(), headers))
        return Response(status_code=200)

    receiver = Starlette(routes=[Route("/held/{provider}", keep, methods=["POST"])])
    with serve_in_thread(receiver) as url:
        store.url = url
        yield store


@pytest.fixture
async def echo_app(
    webhooks_database_url: str, sandbox: Sandbox, held: Held
) -> AsyncIterator[tuple[httpx.AsyncClient, Settings]]:
    from tickettoken.integrations.app import create_app

    # Square signs the notification URL it posts to: the platform verifies over that one.
    settings = webhook_settings(
        webhooks_database_url, sandbox, square_webhook_url=f"{held.url}/held/square"
    )
    for provider in ("square", "quickbooks"):
        sandbox.control(f"/{provider}/_sandbox/webhooks", {"url": f"{held.url}/held/{provider}"})
    app = create_app(settings)
    try:
        async with running_app(app) as http:
            await app.state.token_refresher.stop()
            await app.state.health_checker.stop()
            yield http, settings
    finally:
        sandbox.control("/square/_sandbox/webhooks", {"url": None})
        sandbox.control("/quickbooks/_sandbox/webhooks", {"url": None, "format": "classic"})
        held.take()


async def run_sync(
    http: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    headers: dict[str, str],
    venue: uuid.UUID,
    provider: str,
    sync_type: str,
) -> dict[str, Any]:
    answer = await http.post(
        f"{BASE}/sync/{provider}/sync",
        json={"venueId": str(venue), "syncType": sync_type},
        headers=headers,
    )
    assert answer.status_code == 202, answer.text
    sync_id = str(answer.json()["data"]["sync_id"])
    async with communication_worker(db, settings):
        deadline = asyncio.get_running_loop().time() + 30
        while (log := await sync_log(db, sync_id))["status"] not in FINISHED:
            assert asyncio.get_running_loop().time() < deadline, log
            await asyncio.sleep(0.05)
    return log


async def deliver_held(
    http: httpx.AsyncClient, db: Database, settings: Settings, held: Held, sandbox: Sandbox
) -> list[tuple[str, str | None]]:
    """Pass every held delivery to the app as it came; apply them; (status, note) of each."""
    async with httpx.AsyncClient(base_url=sandbox.url, headers=CONTROL) as control:
        for provider in ("square", "quickbooks"):  # waits until the sandbox has sent them all
            await control.get(f"/{provider}/_sandbox/webhooks")
    ids = []
    for provider, body, headers in held.take():
        answer = await http.post(f"{PATH}/{provider}", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        events = EVENTS[provider](body)
        ids.extend(e.external_id for e in events)
    await apply_queued(db, settings)
    return await _deliveries(db, "external_id = ANY(:ids)", ids=ids)


async def _deliveries(db: Database, where: str, **params: Any) -> list[tuple[str, str | None]]:
    """(status, note) of the stored deliveries ``where`` selects, in the order received."""
    async with db.transaction() as session:
        rows = await session.execute(
            text(
                f"SELECT status, error FROM integration_webhooks WHERE {where} ORDER BY received_at"
            ),
            params,
        )
        return [(r.status, r.error) for r in rows]


async def _square_token(settings: Settings, db: Database, venue: uuid.UUID) -> str | None:
    """The venue's Square access token, as the platform holds it (to act at Square as its
    dashboard would)."""
    clients = ProviderClients(settings)
    try:
        return (await access_credentials(db, venue, "square", clients=clients)).access_token
    finally:
        await clients.aclose()


async def _due(db: Database, venue: uuid.UUID, provider: str) -> bool:
    return bool(
        await scalar(
            db,
            "SELECT next_sync_at <= now() FROM integration_configs"
            " WHERE venue_id = :v AND integration_type = :p",
            v=venue,
            p=provider,
        )
    )


async def _not_due(db: Database, venue: uuid.UUID, provider: str) -> None:
    await scalar(
        db,
        "UPDATE integration_configs SET next_sync_at = now() + interval '1 day'"
        " WHERE venue_id = :v AND integration_type = :p RETURNING id",
        v=venue,
        p=provider,
    )


async def test_square_customer_echo_is_skipped_and_an_edit_at_square_is_pulled(
    echo_app: tuple[httpx.AsyncClient, Settings],
    wdb: Database,
    token_for: Callable[..., str],
    held: Held,
    sandbox: Sandbox,
) -> None:
    http, settings = echo_app
    venue = (await seed_venue(wdb, events=0))["venue"]
    await seed_customers(wdb, venue, [True, False])
    headers = admin(token_for, venue)
    await connect(http, headers, venue, "square")
    log = await run_sync(http, wdb, settings, headers, venue, "square", "customers")
    assert (log["status"], log["success_count"]) == ("completed", 2), log
    await _not_due(wdb, venue, "square")

    applied = await deliver_held(http, wdb, settings, held, sandbox)
    assert len(applied) == 2 and all(status == "ignored" for status, _ in applied), applied
    assert all("echo of the sync's own write" in str(note) for _, note in applied)
    assert not await _due(wdb, venue, "square")

    # The box office edits one of them at Square: a real change, pulled by the next sync.
    remote_id = await scalar(
        wdb,
        "SELECT remote_id FROM integration_synced_records WHERE venue_id = :v"
        " AND provider = 'square' AND entity_type = 'customers' LIMIT 1",
        v=venue,
    )
    token = await _square_token(settings, wdb, venue)
    async with httpx.AsyncClient() as square:
        edited = await square.put(
            f"{sandbox.index['square']['api_base_url']}/v2/customers/{remote_id}",
            headers={"Authorization": f"Bearer {token}"},
            json={"note": "prefers the balcony", "version": 0},
        )
    assert edited.status_code == 200, edited.text
    assert [status for status, _ in await deliver_held(http, wdb, settings, held, sandbox)] == [
        "processed"
    ]
    assert await _due(wdb, venue, "square")


@pytest.mark.parametrize("payload_format", ["classic", "cloudevents"])
async def test_quickbooks_echoes_are_skipped_and_an_edit_at_quickbooks_is_pulled(
    echo_app: tuple[httpx.AsyncClient, Settings],
    wdb: Database,
    token_for: Callable[..., str],
    held: Held,
    sandbox: Sandbox,
    payload_format: str,
) -> None:
    """A full sync writes two Items, a Customer, an Invoice and its Payment (which updates the
    invoice again): six notifications, each the sync's own write; so are a refund's two."""
    http, settings = echo_app
    url = f"{held.url}/held/quickbooks"
    sandbox.control("/quickbooks/_sandbox/webhooks", {"url": url, "format": payload_format})
    made = await seed_venue(wdb, events=1, ticket_types=2)
    venue = made["venue"]
    (customer,) = await seed_customers(wdb, venue, [False])
    order = await seed_order(wdb, made, customer)
    headers = admin(token_for, venue)
    await connect(http, headers, venue, "quickbooks")
    log = await run_sync(http, wdb, settings, headers, venue, "quickbooks", "full")
    assert (log["status"], log["success_count"]) == ("completed", 3), log
    await _not_due(wdb, venue, "quickbooks")

    applied = await deliver_held(http, wdb, settings, held, sandbox)
    assert len(applied) == 6, applied
    assert all(status == "ignored" for status, _ in applied), applied
    assert not await _due(wdb, venue, "quickbooks")

    # A refund: the invoice is updated and a RefundReceipt made; both echo the sync.
    await refund_order(wdb, order, "20.00", "partially_refunded")
    log = await run_sync(http, wdb, settings, headers, venue, "quickbooks", "transactions")
    assert (log["status"], log["success_count"]) == ("completed", 1), log
    await _not_due(wdb, venue, "quickbooks")
    applied = await deliver_held(http, wdb, settings, held, sandbox)
    assert [status for status, _ in applied] == ["ignored", "ignored"], applied
    assert not await _due(wdb, venue, "quickbooks")

    # An accountant edits the customer in QuickBooks a second later: a real change.
    await asyncio.sleep(1.05)
    clients = ProviderClients(settings)
    try:
        quickbooks = await clients.get("quickbooks")
        assert isinstance(quickbooks, QuickBooksProvider)
        credentials = await access_credentials(wdb, venue, "quickbooks", clients=clients)
        (found,) = (await quickbooks.query(credentials, "select * from Customer"))["Customer"]
        await quickbooks.update(
            credentials,
            "Customer",
            {"Id": found["Id"], "SyncToken": found["SyncToken"], "Notes": "pays by cheque"},
        )
    finally:
        await clients.aclose()
    assert [status for status, _ in await deliver_held(http, wdb, settings, held, sandbox)] == [
        "processed"
    ]
    assert await _due(wdb, venue, "quickbooks")


async def _catalog_deliveries(db: Database, venue: uuid.UUID) -> list[tuple[str, str | None]]:
    catalog = "venue_id = :v AND event_type = 'catalog.version.updated'"
    return await _deliveries(db, catalog, v=venue)


async def test_square_catalog_echo_is_skipped_and_a_catalog_edit_at_square_makes_it_due(
    echo_app: tuple[httpx.AsyncClient, Settings],
    wdb: Database,
    token_for: Callable[..., str],
    held: Held,
    sandbox: Sandbox,
) -> None:
    http, settings = echo_app
    venue = (await seed_venue(wdb, events=2, ticket_types=2))["venue"]
    headers = admin(token_for, venue)
    await connect(http, headers, venue, "square")
    log = await run_sync(http, wdb, settings, headers, venue, "square", "products")
    assert (log["status"], log["success_count"]) == ("completed", 2), log
    await _not_due(wdb, venue, "square")

    await deliver_held(http, wdb, settings, held, sandbox)
    echoes = await _catalog_deliveries(wdb, venue)
    assert len(echoes) == 1 and echoes[0][0] == "ignored", echoes
    assert "echo of the sync's own write (catalog version" in str(echoes[0][1])
    assert not await _due(wdb, venue, "square")

    # Someone adds an item in Square's dashboard: a later catalog version, a real change.
    token = await _square_token(settings, wdb, venue)
    item = {
        "type": "ITEM",
        "id": "#walk-in",
        "item_data": {
            "name": "Walk-in",
            "variations": [
                {
                    "type": "ITEM_VARIATION",
                    "id": "#walk-in-door",
                    "item_variation_data": {
                        "item_id": "#walk-in",
                        "name": "Door",
                        "pricing_type": "FIXED_PRICING",
                        "price_money": {"amount": 1500, "currency": "USD"},
                    },
                }
            ],
        },
    }
    async with httpx.AsyncClient() as square:
        answer = await square.post(
            f"{sandbox.index['square']['api_base_url']}/v2/catalog/batch-upsert",
            headers={"Authorization": f"Bearer {token}"},
            json={"idempotency_key": str(uuid.uuid4()), "batches": [{"objects": [item]}]},
        )
    assert answer.status_code == 200, answer.text
    await deliver_held(http, wdb, settings, held, sandbox)
    assert [status for status, _ in await _catalog_deliveries(wdb, venue)] == [
        "ignored",
        "processed",
    ]
    assert await _due(wdb, venue, "square")
