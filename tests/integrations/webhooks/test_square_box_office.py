"""A Square box-office sale over the whole loop: the sandbox's Square changes a synced ticket
item's inventory and signs and sends ``inventory.count.updated`` to the served integration app;
the ``webhook`` job turns the fall of the count into a ``box-office-sale`` job, and the event
service's job takes the seats through the inventory module (a real worker over the real queue);
a conflict raises the queue service's alert.

The ticket item is made in the sandbox through its catalog API, and the link between the
platform's ticket type and its variation is written as the sync engine keeps it
(``integration_synced_records``): the sync engine's own tests cover making it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text
from tests.events.reservations.sales_catalog import Catalog, create_catalog, ticket_counts
from tests.integrations.helpers import Sandbox
from tests.integrations.webhooks.conftest import webhook_settings
from tests.integrations.webhooks.support import (
    APPLIED_TYPES,
    JOBS_MARK,
    OPEN_JOBS,
    PATH,
    free_port,
    scalar,
    serve_app,
)
from tests.integrations.workers import communication_worker
from tests.sandbox.sandbox_threaded import serve_in_thread

from tickettoken.kit.db import Database
from tickettoken.kit.settings import Settings
from tickettoken.sandbox.app import create_sandbox_app
from tickettoken.sandbox.square import webhooks as square_hooks
from tickettoken.services import job_registry

KEY = "sk_test_box_office"
CONTROL = {"Authorization": f"Bearer {KEY}"}
REDIRECT = "https://venue.example/integrations/square/callback"
SCOPES = "MERCHANT_PROFILE_READ ITEMS_READ ITEMS_WRITE INVENTORY_READ INVENTORY_WRITE"
VERSION = {"Square-Version": "2025-01-23"}


@dataclass
class Loop:
    sandbox_url: str
    app_url: str
    settings: Settings
    index: dict[str, Any]


@pytest.fixture(scope="module")
def loop(webhooks_database_url: str) -> Iterator[Loop]:
    from tickettoken.integrations.app import create_app

    app_url = f"http://127.0.0.1:{free_port()}"
    with serve_in_thread(create_sandbox_app(secret_key=KEY)) as sandbox_url:
        index = httpx.get(f"{sandbox_url}/").json()["providers"]
        for path, body in (
            ("/square/_sandbox/webhooks", {"url": f"{app_url}{PATH}/square"}),
            ("/square/_sandbox/rate-limit", {"per_second": 1000}),
        ):
            answer = httpx.post(f"{sandbox_url}{path}", headers=CONTROL, json=body)
            assert answer.status_code == 200, answer.text
        settings = webhook_settings(
            webhooks_database_url,
            Sandbox(sandbox_url, index),
            api_url=app_url,
            square_webhook_url=f"{app_url}{PATH}/square",
        )
        port = int(app_url.rsplit(":", 1)[1])
        with serve_app(create_app(settings), port=port):
            yield Loop(sandbox_url, app_url, settings, index)


@dataclass
class BoxOffice:
    """A venue connected to a Square seller whose catalog holds its synced ticket item."""

    http: httpx.AsyncClient  # the seller's Square API
    location_id: str
    variation_id: str
    merchant_id: str
    catalog: Catalog

    async def change(self, kind: str, quantity: int) -> None:
        """A count (``PHYSICAL_COUNT``), a box-office sale (``ADJUSTMENT`` IN_STOCK -> SOLD) or
        a return (``RETURN``: a refund with restock, a cancelled order, SOLD -> IN_STOCK)."""
        target = {"catalog_object_id": self.variation_id, "location_id": self.location_id}
        if kind == "PHYSICAL_COUNT":
            change = {
                "type": kind,
                "physical_count": {**target, "state": "IN_STOCK", "quantity": str(quantity)},
            }
        else:
            states = ("SOLD", "IN_STOCK") if kind == "RETURN" else ("IN_STOCK", "SOLD")
            change = {
                "type": "ADJUSTMENT",
                "adjustment": {
                    **target,
                    "from_state": states[0],
                    "to_state": states[1],
                    "quantity": str(quantity),
                },
            }
        answer = await self.http.post(
            "/v2/inventory/changes/batch-create",
            json={"idempotency_key": uuid.uuid4().hex, "changes": [change]},
        )
        assert answer.status_code == 200, answer.text


async def connect(loop: Loop, database: Database) -> BoxOffice:
    square = loop.index["square"]
    async with httpx.AsyncClient(base_url=loop.sandbox_url) as browser:
        answer = await browser.get(
            "/square/oauth2/authorize",
            params={
                "client_id": square["application_id"],
                "scope": SCOPES,
                "state": "s",
                "redirect_uri": REDIRECT,
            },
        )
        code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
        token = (
            await browser.post(
                "/square/oauth2/token",
                headers=VERSION,
                json={
                    "client_id": square["application_id"],
                    "client_secret": square["application_secret"],
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": REDIRECT,
                },
            )
        ).json()
    http = httpx.AsyncClient(
        base_url=square["api_base_url"],
        headers={"Authorization": f"Bearer {token['access_token']}", **VERSION},
    )
    location = (await http.get("/v2/locations")).json()["locations"][0]["id"]
    upsert = await http.post(
        "/v2/catalog/batch-upsert",
        json={
            "idempotency_key": uuid.uuid4().hex,
            "batches": [
                {
                    "objects": [
                        {
                            "type": "ITEM",
                            "id": "#show",
                            "item_data": {
                                "name": "Show",
                                "variations": [
                                    {
                                        "type": "ITEM_VARIATION",
                                        "id": "#ga",
                                        "item_variation_data": {
                                            "name": "GA",
                                            "pricing_type": "FIXED_PRICING",
                                            "price_money": {"amount": 2500, "currency": "USD"},
                                        },
                                    }
                                ],
                            },
                        }
                    ]
                }
            ],
        },
    )
    assert upsert.status_code == 200, upsert.text
    ids = {m["client_object_id"]: m["object_id"] for m in upsert.json()["id_mappings"]}
    catalog = await create_catalog(loop.settings.database_url, quantity=10)
    await scalar(
        database,
        "INSERT INTO oauth_tokens (venue_id, integration_type, encrypted_access_token,"
        " provider_data) VALUES (:v, 'square', 'v1:sealed', CAST(:x AS jsonb)) RETURNING id",
        v=catalog.venue_id,
        x=json.dumps({"merchant_id": token["merchant_id"]}),
    )
    await scalar(
        database,
        "INSERT INTO integration_synced_records (venue_id, provider, entity_type, local_id,"
        " remote_id, content_hash, remote_data) VALUES (:v, 'square', 'products', :e, :item,"
        " 'hash', CAST(:data AS jsonb)) RETURNING local_id",
        v=catalog.venue_id,
        e=str(catalog.event_id),
        item=ids["#show"],
        data=json.dumps({"variations": {str(catalog.ticket_type_id): {"id": ids["#ga"]}}}),
    )
    return BoxOffice(http, location, ids["#ga"], token["merchant_id"], catalog)


async def settle(loop: Loop, database: Database, within: float = 30.0) -> list[dict[str, Any]]:
    """Wait until the sandbox delivered everything, then run a worker until no ``webhook`` or
    ``box-office-sale`` job is left; the sandbox's deliveries so far."""
    deadline = asyncio.get_running_loop().time() + within
    async with httpx.AsyncClient() as http:
        while True:
            sent = (
                await http.get(f"{loop.sandbox_url}/square/_sandbox/webhooks", headers=CONTROL)
            ).json()["deliveries"]
            if all(d["status"] is not None or d["error"] for d in sent):
                break
            assert asyncio.get_running_loop().time() < deadline, "deliveries did not finish"
            await asyncio.sleep(0.05)
    # With the queue's alert on a conflict (result callbacks on).
    async with communication_worker(
        database, loop.settings, concurrency=8, registry=job_registry()
    ):
        mark = JOBS_MARK.get(database.url, 0)
        while await scalar(database, OPEN_JOBS, types=list(APPLIED_TYPES), mark=mark):
            assert asyncio.get_running_loop().time() < deadline, "jobs did not finish"
            await asyncio.sleep(0.05)
    assert {d["status"] for d in sent} <= {200}, sent
    return list(sent)


def _inventory_deliveries(sent: list[dict[str, Any]], variation: str) -> list[dict[str, Any]]:
    return [
        d
        for d in sent
        if json.loads(d["body"])["type"] == "inventory.count.updated" and variation in d["body"]
    ]


async def _sales(database: Database, ticket_type: uuid.UUID) -> list[dict[str, Any]]:
    async with database.transaction() as session:
        rows = await session.execute(
            text(
                "SELECT status, quantity, details FROM box_office_sales"
                " WHERE ticket_type_id = :t ORDER BY created_at"
            ),
            {"t": ticket_type},
        )
        return [dict(r._mapping) for r in rows]


async def test_a_box_office_sale_takes_the_seats_once_and_a_conflict_takes_none(
    loop: Loop, wdb: Database
) -> None:
    office = await connect(loop, wdb)
    tt, url = office.catalog.ticket_type_id, loop.settings.database_url
    try:
        await office.change("PHYSICAL_COUNT", 10)  # the venue stocks its box office
        await settle(loop, wdb)
        assert await ticket_counts(url, tt) == (10, 0, 0)  # a first count is the baseline

        await office.change("ADJUSTMENT", 3)  # three tickets sold at the box office
        sent = await settle(loop, wdb)
        assert await ticket_counts(url, tt) == (10, 3, 0)
        (sale,) = await _sales(wdb, tt)
        assert (sale["status"], sale["quantity"]) == ("applied", 3)
        assert sale["details"]["catalog_object_id"] == office.variation_id

        # The same delivery again (Square retries): stored once, nothing more taken.
        last = _inventory_deliveries(sent, office.variation_id)[-1]
        async with httpx.AsyncClient() as http:
            again = await http.post(last["url"], content=last["body"], headers=last["headers"])
            assert again.json()["data"]["duplicates"] == 1
            # The same counts under a new event id, and an older count arriving late.
            square_key = loop.index["square"]["webhook_signature_key"]
            counts = json.loads(last["body"])["data"]["object"]["inventory_counts"]
            older = [
                {**c, "quantity": "9", "calculated_at": "2020-01-01T00:00:00.000Z"} for c in counts
            ]
            for replay in (counts, older):
                body = square_hooks.event_body(
                    office.merchant_id,
                    "inventory.count.updated",
                    "inventory",
                    "",
                    {"inventory_counts": replay},
                )
                signature = square_hooks.sign(square_key, last["url"], body)
                answer = await http.post(
                    last["url"],
                    content=body,
                    headers={square_hooks.SIGNATURE_HEADER: signature},
                )
                assert answer.json()["data"]["received"] == 1, answer.text
        await settle(loop, wdb)
        assert await ticket_counts(url, tt) == (10, 3, 0)
        assert len(await _sales(wdb, tt)) == 1

        # Square sells 8 more, but only 7 are left: nothing taken, the conflict is recorded.
        await office.change("ADJUSTMENT", 8)
        await settle(loop, wdb)
        assert await ticket_counts(url, tt) == (10, 3, 0)
        conflict = (await _sales(wdb, tt))[-1]
        assert (conflict["status"], conflict["quantity"]) == ("conflict", 8)
        assert conflict["details"]["counters"]["available"] == 7
        audited = await scalar(
            wdb,
            "SELECT count(*) FROM audit_log WHERE action = 'box_office_conflict'"
            " AND entity_id = :t",
            t=str(tt),
        )
        assert audited == 1
        alert = await scalar(
            wdb,
            "SELECT severity || ' ' || metric_value || '/' || threshold_value FROM alert_history"
            " WHERE alert_type = 'box_office_conflict' AND message LIKE :m",
            m=f"%{tt}%",
        )
        assert alert == "critical 8/7"
        processed = await scalar(
            wdb,
            "SELECT count(*) FROM integration_webhooks WHERE venue_id = :v"
            " AND event_type = 'inventory.count.updated' AND status = 'processed'",
            v=office.catalog.venue_id,
        )
        assert processed == 5  # the count, three sales' deliveries, the replay and the late one
    finally:
        await office.http.aclose()


async def test_an_unsynced_variation_changes_no_inventory(loop: Loop, wdb: Database) -> None:
    office = await connect(loop, wdb)
    try:
        await scalar(
            wdb,
            "DELETE FROM integration_synced_records WHERE venue_id = :v RETURNING 1",
            v=office.catalog.venue_id,
        )
        await office.change("PHYSICAL_COUNT", 10)
        await settle(loop, wdb)
        await office.change("ADJUSTMENT", 2)
        await settle(loop, wdb)
        assert await ticket_counts(loop.settings.database_url, office.catalog.ticket_type_id) == (
            10,
            0,
            0,
        )
        jobs = await scalar(
            wdb,
            "SELECT count(*) FROM jobs_communication WHERE type = 'box-office-sale'"
            " AND venue_id = :v",
            v=office.catalog.venue_id,
        )
        assert jobs == 0
        counted = await scalar(
            wdb,
            "SELECT quantity FROM integration_inventory_counts WHERE venue_id = :v"
            " AND catalog_object_id = :o AND state = 'IN_STOCK'",
            v=office.catalog.venue_id,
            o=office.variation_id,
        )
        assert counted == 8  # the count is still kept: a later mapping starts from it
    finally:
        await office.http.aclose()


async def test_counts_arriving_out_of_order_are_counted_once(loop: Loop, wdb: Database) -> None:
    """Absolute counts signed with the sandbox's key and sent in the wrong order: 10, then two
    counts of the same millisecond (8 arriving before 9), then an older 4: sold 2, once. One
    delivery with two counts of one variation (7 and 6, same time): 2 more, one sale."""
    office = await connect(loop, wdb)
    url = f"{loop.app_url}{PATH}/square"
    key = loop.index["square"]["webhook_signature_key"]

    def count(quantity: int, at: str) -> dict[str, Any]:
        return {
            "catalog_object_id": office.variation_id,
            "catalog_object_type": "ITEM_VARIATION",
            "state": "IN_STOCK",
            "location_id": office.location_id,
            "quantity": str(quantity),
            "calculated_at": at,
        }

    async def deliver(*counts: dict[str, Any]) -> None:
        body = square_hooks.event_body(
            office.merchant_id,
            "inventory.count.updated",
            "inventory",
            "",
            {"inventory_counts": list(counts)},
        )
        headers = {square_hooks.SIGNATURE_HEADER: square_hooks.sign(key, url, body)}
        async with httpx.AsyncClient() as http:
            answer = await http.post(url, content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        await settle(loop, wdb)

    try:
        await deliver(count(10, "2026-11-27T10:00:00.000Z"))
        await deliver(count(8, "2026-11-27T10:00:01.000Z"))
        await deliver(count(9, "2026-11-27T10:00:01.000Z"))
        await deliver(count(4, "2026-11-27T09:00:00.000Z"))
        tt = office.catalog.ticket_type_id
        assert await ticket_counts(loop.settings.database_url, tt) == (10, 2, 0)
        assert [(s["status"], s["quantity"]) for s in await _sales(wdb, tt)] == [("applied", 2)]
        await deliver(count(7, "2026-11-27T10:00:02.000Z"), count(6, "2026-11-27T10:00:02.000Z"))
        assert await ticket_counts(loop.settings.database_url, tt) == (10, 4, 0)
        assert [s["quantity"] for s in await _sales(wdb, tt)] == [2, 2]
    finally:
        await office.http.aclose()


async def test_a_box_office_return_gives_back_what_the_box_office_took_once(
    loop: Loop, wdb: Database
) -> None:
    """Square puts sold seats back in stock (a refund with restock, a cancelled order): the
    ``SOLD`` count falls and the seats return to sale once per delivery, audited; never more
    than the box office's applied sales took (a conflict sale took nothing)."""
    office = await connect(loop, wdb)
    tt, url = office.catalog.ticket_type_id, loop.settings.database_url
    try:
        await office.change("PHYSICAL_COUNT", 10)
        await settle(loop, wdb)
        await office.change("ADJUSTMENT", 3)
        await settle(loop, wdb)
        assert await ticket_counts(url, tt) == (10, 3, 0)

        await office.change("RETURN", 2)
        sent = await settle(loop, wdb)
        assert await ticket_counts(url, tt) == (10, 1, 0)
        returned = (await _sales(wdb, tt))[-1]
        assert (returned["status"], returned["quantity"]) == ("returned", 2)
        assert returned["details"]["given_back"] == 2
        audited = await scalar(
            wdb,
            "SELECT count(*) FROM audit_log WHERE action = 'box_office_return' AND entity_id = :t",
            t=str(tt),
        )
        assert audited == 1

        # The return's delivery again, and its counts under a new event id: nothing more.
        last = _inventory_deliveries(sent, office.variation_id)[-1]
        key = loop.index["square"]["webhook_signature_key"]
        counts = json.loads(last["body"])["data"]["object"]["inventory_counts"]
        body = square_hooks.event_body(
            office.merchant_id,
            "inventory.count.updated",
            "inventory",
            "",
            {"inventory_counts": counts},
        )
        async with httpx.AsyncClient() as http:
            again = await http.post(last["url"], content=last["body"], headers=last["headers"])
            assert again.json()["data"]["duplicates"] == 1
            replay = await http.post(
                last["url"],
                content=body,
                headers={square_hooks.SIGNATURE_HEADER: square_hooks.sign(key, last["url"], body)},
            )
            assert replay.json()["data"]["received"] == 1
        await settle(loop, wdb)
        assert await ticket_counts(url, tt) == (10, 1, 0)
        assert len(await _sales(wdb, tt)) == 2

        # The rest sells online; the box office then sells 4 it does not have (a conflict).
        await scalar(wdb, "UPDATE ticket_types SET sold = 10 WHERE id = :t RETURNING 1", t=tt)
        await office.change("ADJUSTMENT", 4)
        await settle(loop, wdb)
        assert (await _sales(wdb, tt))[-1]["status"] == "conflict"
        # Those 4 returned: only the 1 seat the applied sale still holds goes back.
        await office.change("RETURN", 4)
        await settle(loop, wdb)
        assert await ticket_counts(url, tt) == (10, 9, 0)
        partial = (await _sales(wdb, tt))[-1]
        assert (partial["status"], partial["details"]["given_back"]) == ("returned", 1)
        assert partial["details"]["not_given_back"] == 3
        await office.change("RETURN", 1)
        await settle(loop, wdb)
        assert await ticket_counts(url, tt) == (10, 9, 0)
        assert (await _sales(wdb, tt))[-1]["status"] == "return_unmatched"
    finally:
        await office.http.aclose()
