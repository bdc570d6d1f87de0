"""Paid orders to Square (an Order of the synced variations for the synced customer, closed by an
EXTERNAL payment), to QuickBooks (an Invoice and a Payment linked to it), never twice; to
Stripe, nothing: its payments are already Stripe's, and the sync says so and completes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import text
from square.core.api_error import ApiError
from tests.integrations.sync.conftest import BASE, RunWorker, admin, connect, seed_venue, writes
from tests.integrations.sync.test_customers import seed_customers

from tickettoken.integrations.connections.clients import ProviderClients
from tickettoken.integrations.connections.credentials import access_credentials
from tickettoken.integrations.providers import CallRecord, QuickBooksProvider, SquareProvider
from tickettoken.integrations.providers.square_client import NO_SDK_RETRIES
from tickettoken.kit.db import Database
from tickettoken.kit.settings import Settings


async def seed_order(db: Database, made: dict[str, Any], customer: uuid.UUID) -> uuid.UUID:
    """A paid order of 2 x the first ticket type at 20 and 1 x the second at 30 (70)."""
    order = uuid.uuid4()
    async with db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO orders (id, customer_id, event_id, status, total, paid_at)"
                " VALUES (:id, :customer, :event, 'paid', 70, now())"
            ),
            {"id": order, "customer": customer, "event": made["events"][0]},
        )
        for tt, quantity, price in (
            (made["ticket_types"][0], 2, 20),
            (made["ticket_types"][1], 1, 30),
        ):
            await session.execute(
                text(
                    "INSERT INTO order_items (order_id, ticket_type_id, quantity, unit_price,"
                    " subtotal) VALUES (:order, :tt, :q, :p, :subtotal)"
                ),
                {"order": order, "tt": tt, "q": quantity, "p": price, "subtotal": quantity * price},
            )
    return order


async def synced(db: Database, venue: uuid.UUID, provider: str, entity: str) -> dict[str, Any]:
    async with db.transaction() as session:
        rows = await session.execute(
            text(
                "SELECT local_id, remote_id, remote_version, content_hash, remote_data"
                " FROM integration_synced_records"
                " WHERE venue_id = :v AND provider = :p AND entity_type = :e"
            ),
            {"v": venue, "p": provider, "e": entity},
        )
        return {row["local_id"]: dict(row) for row in rows.mappings()}


def sync_call(
    client: httpx.AsyncClient, headers: dict[str, str], venue: uuid.UUID, provider: str
) -> Callable[..., Any]:
    async def run(sync_type: str, run_worker: RunWorker) -> dict[str, Any]:
        answer = await client.post(
            f"{BASE}/sync/{provider}/sync",
            json={"venueId": str(venue), "syncType": sync_type},
            headers=headers,
        )
        assert answer.status_code == 202, answer.text
        return await run_worker(str(answer.json()["data"]["sync_id"]))

    return run


@dataclass
class OneOrder:
    """A venue with one event of two ticket types, one customer with one paid order, connected
    to one provider: what every test here starts from."""

    made: dict[str, Any]
    venue: uuid.UUID
    customer: uuid.UUID
    order: uuid.UUID
    headers: dict[str, str]
    sync: Callable[..., Any]


async def one_order_connected(
    client: httpx.AsyncClient, token_for: Callable[..., str], db: Database, provider: str
) -> OneOrder:
    made = await seed_venue(db, events=1, ticket_types=2)
    venue = made["venue"]
    (customer,) = await seed_customers(db, venue, [False])
    order = await seed_order(db, made, customer)
    headers = admin(token_for, venue)
    await connect(client, headers, venue, provider)
    sync = sync_call(client, headers, venue, provider)
    return OneOrder(made, venue, customer, order, headers, sync)


async def test_square_orders_refer_to_the_synced_catalog_and_customer_once(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    integration_settings: Settings,
    calls: list[CallRecord],
    run_worker: RunWorker,
) -> None:
    setup = await one_order_connected(client, token_for, db, "square")
    made, venue, customer, order, sync = (
        setup.made,
        setup.venue,
        setup.customer,
        setup.order,
        setup.sync,
    )

    log = await sync("full", run_worker)
    # One event, one customer, one order.
    assert (log["status"], log["success_count"], log["error_count"]) == ("completed", 3, 0), log
    assert writes(calls, "square").count("orders.create") == 1
    assert writes(calls, "square").count("payments.create") == 1
    square_order = (await synced(db, venue, "square", "transactions"))[str(order)]
    customer_id = (await synced(db, venue, "square", "customers"))[str(customer)]["remote_id"]
    variations = (await synced(db, venue, "square", "products"))[str(made["events"][0])][
        "remote_data"
    ]["variations"]

    clients = ProviderClients(integration_settings)
    try:
        square = await clients.get("square")
        assert isinstance(square, SquareProvider)
        credentials = await access_credentials(db, venue, "square", clients=clients)
        location = (await square.list_locations(credentials))[0].id
        sdk = square.sdk(credentials.access_token)
        found = (await sdk.orders.search(location_ids=[location])).orders or []
        payment = (await sdk.payments.get(square_order["remote_data"]["payment_id"])).payment
    finally:
        await clients.aclose()
    assert len(found) == 1 and found[0].id == square_order["remote_id"]
    remote = found[0]
    assert (remote.customer_id, remote.reference_id, remote.state) == (
        customer_id,
        str(order),
        "COMPLETED",
    )
    assert remote.total_money is not None and remote.total_money.amount == 7000
    lines = sorted((li.catalog_object_id, li.quantity) for li in remote.line_items or [])
    assert lines == sorted(
        [
            (variations[str(made["ticket_types"][0])]["id"], "2"),
            (variations[str(made["ticket_types"][1])]["id"], "1"),
        ]
    )
    assert payment is not None and payment.source_type == "EXTERNAL"
    assert payment.order_id == remote.id

    # Nothing changed: no call writes anything.
    calls.clear()
    log = await sync("transactions", run_worker)
    assert log["status"] == "completed" and writes(calls, "square") == []

    # A refund at the platform: the Square order is kept as created, and the log says so.
    async with db.transaction() as session:
        await session.execute(
            text(
                "UPDATE orders SET status = 'partially_refunded', updated_at = now() WHERE id = :id"
            ),
            {"id": order},
        )
    calls.clear()
    log = await sync("transactions", run_worker)
    assert (log["status"], log["success_count"], log["skip_count"]) == ("completed", 0, 1)
    assert writes(calls, "square") == []
    assert "kept as created" in str(log["errors"])


async def test_square_order_replayed_not_duplicated_after_a_lost_answer(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    integration_settings: Settings,
    calls: list[CallRecord],
    run_worker: RunWorker,
) -> None:
    """The pusher run twice on the same order with nothing saved in between (a worker that died
    after Square answered): the same order and payment come back, no second sale."""
    from tickettoken.integrations.sync.square_orders import square_transactions

    setup = await one_order_connected(client, token_for, db, "square")
    venue, sync = setup.venue, setup.sync
    assert (await sync("products", run_worker))["status"] == "completed"
    assert (await sync("customers", run_worker))["status"] == "completed"
    from tickettoken.integrations.sync import sources

    async with db.transaction() as session:
        records = await sources.changed_transactions(session, venue, None)
    known = {
        f"customer:{k}": v for k, v in (await synced(db, venue, "square", "customers")).items()
    }
    known.update(
        {f"product:{k}": v for k, v in (await synced(db, venue, "square", "products")).items()}
    )
    clients = ProviderClients(integration_settings)
    try:
        square = await clients.get("square")
        credentials = await access_credentials(db, venue, "square", clients=clients)
        first = await square_transactions(square, credentials, venue, records, dict(known))
        again = await square_transactions(square, credentials, venue, records, dict(known))
        assert isinstance(square, SquareProvider)
        location = (await square.list_locations(credentials))[0].id
        orders = (
            await square.sdk(credentials.access_token).orders.search(location_ids=[location])
        ).orders
    finally:
        await clients.aclose()
    assert first.failed == [] and again.failed == []
    assert [s["remote_id"] for s in first.saved] == [s["remote_id"] for s in again.saved]
    assert first.saved[0]["remote_data"] == again.saved[0]["remote_data"]
    assert len(orders or []) == 1


async def test_square_sandbox_refuses_an_order_of_an_unknown_variation(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    integration_settings: Settings,
) -> None:
    venue = (await seed_venue(db, events=0))["venue"]
    await connect(client, admin(token_for, venue), venue, "square")
    clients = ProviderClients(integration_settings)
    try:
        square = await clients.get("square")
        assert isinstance(square, SquareProvider)
        credentials = await access_credentials(db, venue, "square", clients=clients)
        location = (await square.list_locations(credentials))[0].id
        try:
            await square.sdk(credentials.access_token).orders.create(
                idempotency_key="o-unknown",
                order={
                    "location_id": location,
                    "line_items": [{"catalog_object_id": "NOPE", "quantity": "1"}],
                },
                request_options=NO_SDK_RETRIES,
            )
        except ApiError as exc:
            assert exc.status_code == 400 and exc.errors[0].code == "NOT_FOUND"
        else:
            raise AssertionError("an unknown catalog variation was accepted")
    finally:
        await clients.aclose()


async def test_quickbooks_invoices_are_paid_once(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    integration_settings: Settings,
    calls: list[CallRecord],
    run_worker: RunWorker,
) -> None:
    setup = await one_order_connected(client, token_for, db, "quickbooks")
    venue, order, sync = setup.venue, setup.order, setup.sync
    log = await sync("full", run_worker)
    assert (log["status"], log["success_count"], log["error_count"]) == ("completed", 3, 0), log

    async def company() -> tuple[list[Any], list[Any]]:
        clients = ProviderClients(integration_settings)
        try:
            quickbooks = await clients.get("quickbooks")
            assert isinstance(quickbooks, QuickBooksProvider)
            credentials = await access_credentials(db, venue, "quickbooks", clients=clients)
            invoices = await quickbooks.query(credentials, "select * from Invoice")
            payments = await quickbooks.query(credentials, "select * from Payment")
        finally:
            await clients.aclose()
        return invoices.get("Invoice") or [], payments.get("Payment") or []

    invoices, payments = await company()
    assert len(invoices) == 1 and len(payments) == 1
    invoice, payment = invoices[0], payments[0]
    assert (invoice["TotalAmt"], invoice["Balance"]) == (70, 0)
    assert payment["TotalAmt"] == 70 and payment["UnappliedAmt"] == 0
    assert payment["Line"][0]["LinkedTxn"] == [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]
    stored = (await synced(db, venue, "quickbooks", "transactions"))[str(order)]
    assert stored["remote_id"] == invoice["Id"]
    assert stored["remote_data"]["payment"]["Id"] == payment["Id"]
    # The payment made a new version of the invoice; the record holds that one, not the first.
    assert invoice["SyncToken"] == "1"
    assert stored["remote_data"]["SyncToken"] == invoice["SyncToken"]

    calls.clear()
    log = await sync("transactions", run_worker)
    assert log["status"] == "completed" and writes(calls, "quickbooks") == []
    # A refund changes the order: the invoice is updated in place, its payment kept, and the
    # money given back is a RefundReceipt of the customer (not a CreditMemo: no credit is left).
    first = await refund_order(db, order, "20.00", "partially_refunded")
    calls.clear()
    log = await sync("transactions", run_worker)
    assert (log["status"], log["success_count"]) == ("completed", 1), log
    assert writes(calls, "quickbooks") == ["batch", "batch"]  # the invoice, the receipt
    invoices, payments = await company()
    assert [i["Id"] for i in invoices] == [invoice["Id"]] and len(payments) == 1
    assert invoices[0]["SyncToken"] == "2" and invoices[0]["Balance"] == 0
    (receipt,) = await refund_receipts(integration_settings, db, venue)
    assert (receipt["TotalAmt"], receipt["CustomerRef"]["value"]) == (
        20,
        invoice["CustomerRef"]["value"],
    )
    assert str(first) in receipt["PrivateNote"]
    stored = (await synced(db, venue, "quickbooks", "transactions"))[str(order)]
    assert stored["remote_data"]["refunds"] == {
        str(first): {"Id": receipt["Id"], "SyncToken": receipt["SyncToken"]}
    }

    calls.clear()
    log = await sync("transactions", run_worker)
    assert log["status"] == "completed" and writes(calls, "quickbooks") == []
    # The rest is refunded: the order (now ``refunded``) still comes, one more receipt.
    await refund_order(db, order, "50.00", "refunded")
    log = await sync("transactions", run_worker)
    assert (log["status"], log["success_count"]) == ("completed", 1), log
    receipts = await refund_receipts(integration_settings, db, venue)
    assert sorted(r["TotalAmt"] for r in receipts) == [20, 50]
    assert (
        len(
            (await synced(db, venue, "quickbooks", "transactions"))[str(order)]["remote_data"][
                "refunds"
            ]
        )
        == 2
    )


async def refund_order(db: Database, order: uuid.UUID, amount: str, status: str) -> uuid.UUID:
    """A refund the payment provider confirmed, as the orders module records it."""
    refund = uuid.uuid4()
    async with db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO order_refunds (id, order_id, amount, currency, status, confirmed_at)"
                " VALUES (:id, :order, :amount, 'USD', 'succeeded', now())"
            ),
            {"id": refund, "order": order, "amount": amount},
        )
        await session.execute(
            text(
                "UPDATE orders SET status = :status, refunded_amount = refunded_amount + :amount,"
                " updated_at = now() WHERE id = :id"
            ),
            {"id": order, "status": status, "amount": amount},
        )
    return refund


async def refund_receipts(settings: Settings, db: Database, venue: uuid.UUID) -> list[Any]:
    clients = ProviderClients(settings)
    try:
        quickbooks = await clients.get("quickbooks")
        assert isinstance(quickbooks, QuickBooksProvider)
        credentials = await access_credentials(db, venue, "quickbooks", clients=clients)
        found = await quickbooks.query(credentials, "select * from RefundReceipt")
    finally:
        await clients.aclose()
    return list(found.get("RefundReceipt") or [])


async def test_quickbooks_refund_receipts_are_made_once_after_a_lost_answer(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    integration_settings: Settings,
    run_worker: RunWorker,
) -> None:
    """The pusher run on a refunded order, its answer lost (nothing saved), then again with a
    second refunded order in the same batch (another batch body, so QuickBooks' requestid
    replay does not apply): the first refund's receipt is found by its DocNumber, not made
    twice."""
    from tickettoken.integrations.sync import sources
    from tickettoken.integrations.sync.quickbooks_pushers import quickbooks_transactions

    setup = await one_order_connected(client, token_for, db, "quickbooks")
    venue, sync = setup.venue, setup.sync
    second = await seed_order(db, setup.made, setup.customer)
    assert (await sync("full", run_worker))["status"] == "completed"
    await refund_order(db, setup.order, "10.00", "partially_refunded")
    await refund_order(db, second, "15.00", "partially_refunded")
    async with db.transaction() as session:
        records = await sources.changed_transactions(session, venue, None)
    known: dict[str, Any] = {}
    for entity, prefix in (
        ("customers", "customer:"),
        ("products", "product:"),
        ("transactions", ""),
    ):
        known.update(
            {f"{prefix}{k}": v for k, v in (await synced(db, venue, "quickbooks", entity)).items()}
        )
    alone = [r for r in records if r["local_id"] == str(setup.order)]
    clients = ProviderClients(integration_settings)
    try:
        quickbooks = await clients.get("quickbooks")
        credentials = await access_credentials(db, venue, "quickbooks", clients=clients)
        lost = await quickbooks_transactions(quickbooks, credentials, venue, alone, dict(known))
        again = await quickbooks_transactions(quickbooks, credentials, venue, records, dict(known))
    finally:
        await clients.aclose()
    assert lost.failed == [] and again.failed == [], (lost.failed, again.failed)
    receipts = await refund_receipts(integration_settings, db, venue)
    assert sorted(r["TotalAmt"] for r in receipts) == [10, 15]
    first = next(s for s in lost.saved if s["local_id"] == str(setup.order))
    retried = next(s for s in again.saved if s["local_id"] == str(setup.order))
    assert first["remote_data"]["refunds"] == retried["remote_data"]["refunds"]


async def test_stripe_transactions_are_already_stripes(
    client: httpx.AsyncClient,
    token_for: Callable[..., str],
    db: Database,
    calls: list[CallRecord],
    run_worker: RunWorker,
) -> None:
    setup = await one_order_connected(client, token_for, db, "stripe")
    venue, headers, sync = setup.venue, setup.headers, setup.sync
    for sync_type, succeeded in (("transactions", 0), ("full", 2)):
        calls.clear()
        log = await sync(sync_type, run_worker)
        assert (log["status"], log["success_count"], log["error_count"]) == (
            "completed",
            succeeded,
            0,
        ), log
        assert "Stripe payments are already Stripe's" in str(log["errors"])
        assert "not supported" not in str(log["errors"]) + str(log["details"])
        assert not [c for c in calls if c.endpoint.startswith(("payment", "charge", "invoice"))]
    status = await client.get(
        f"{BASE}/sync/stripe/sync/status", params={"venueId": str(venue)}, headers=headers
    )
    assert status.status_code == 200, status.text
    assert "already Stripe's" in status.json()["data"]["notes"][0]
