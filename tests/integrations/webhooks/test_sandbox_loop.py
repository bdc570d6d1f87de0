"""The whole loop over real HTTP: the sandbox signs and sends its providers' webhooks when its
state changes, the integration app (served by uvicorn) verifies and stores them, a worker
applies them. Nothing is signed by the test itself."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tests.integrations.helpers import Sandbox
from tests.integrations.webhooks.conftest import webhook_settings
from tests.integrations.webhooks.support import (
    MAILCHIMP_SECRET,
    PATH,
    STRIPE_SECRET,
    apply_queued,
    free_port,
    scalar,
    seed_order,
    serve_app,
)
from tests.sandbox.sandbox_threaded import serve_in_thread

from tickettoken.integrations.webhooks.signatures import mailchimp_token
from tickettoken.kit.db import Database
from tickettoken.kit.settings import Settings
from tickettoken.sandbox.app import SandboxOptions, create_sandbox_app
from tickettoken.sandbox.delivery import Deliverer
from tickettoken.sandbox.quickbooks import webhooks as qbo_hooks
from tickettoken.sandbox.square import webhooks as square_hooks

# The stripe SDK's own httpx client posts bytes as ``data=`` (httpx deprecates that).
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

KEY = "sk_test_webhook_loop"
CONTROL = {"Authorization": f"Bearer {KEY}"}


class Loop:
    def __init__(
        self, sandbox_url: str, app_url: str, settings: Settings, index: dict[str, Any]
    ) -> None:
        self.sandbox_url, self.app_url, self.settings = sandbox_url, app_url, settings
        self.index = index


@pytest.fixture(scope="module")
def loop(webhooks_database_url: str) -> Iterator[Loop]:
    from tickettoken.integrations.app import create_app

    app_url = f"http://127.0.0.1:{free_port()}"
    options = SandboxOptions(
        stripe_webhook_url=f"{app_url}{PATH}/stripe", stripe_webhook_secret=STRIPE_SECRET
    )
    with serve_in_thread(create_sandbox_app(secret_key=KEY, options=options)) as sandbox_url:
        index = httpx.get(f"{sandbox_url}/").json()["providers"]
        for provider, body in (
            ("square", {"url": f"{app_url}{PATH}/square"}),
            ("quickbooks", {"url": f"{app_url}{PATH}/quickbooks", "format": "classic"}),
        ):
            answer = httpx.post(
                f"{sandbox_url}/{provider}/_sandbox/webhooks", headers=CONTROL, json=body
            )
            assert answer.status_code == 200, answer.text
        settings = webhook_settings(
            webhooks_database_url,
            Sandbox(sandbox_url, index),
            api_url=app_url,
            stripe_secret_key=KEY,
            square_webhook_url=f"{app_url}{PATH}/square",
        )
        port = int(app_url.rsplit(":", 1)[1])
        with serve_app(create_app(settings), port=port) as served:
            assert served == app_url
            yield Loop(sandbox_url, app_url, settings, index)


async def wait_for(check: Any, within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_a_refund_through_the_stripe_sdk_reaches_the_order(loop: Loop, wdb: Database) -> None:
    client = stripe.StripeClient(
        KEY,
        base_addresses={"api": loop.sandbox_url, "connect": loop.sandbox_url},
        http_client=stripe.HTTPXClient(allow_sync_methods=True),
    )
    intent = await client.v1.payment_intents.create_async(
        {"amount": 2500, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    assert intent.status == "succeeded", intent.status
    order = await seed_order(wdb, total="25.00")
    await scalar(
        wdb,
        "UPDATE orders SET payment_intent_id = :pi WHERE id = :o RETURNING id",
        pi=intent.id,
        o=order["order_id"],
    )
    await client.v1.refunds.create_async({"payment_intent": intent.id, "amount": 1000})

    async def stored() -> bool:
        return bool(
            await scalar(
                wdb,
                "SELECT count(*) FROM integration_webhooks WHERE integration_type = 'stripe'"
                " AND event_type = 'refund.created'"
                " AND payload->'data'->'object'->>'payment_intent' = :pi",
                pi=intent.id,
            )
        )

    await wait_for(stored)
    await apply_queued(wdb, loop.settings)
    row = await scalar(
        wdb,
        "SELECT refunded_amount || ' ' || status FROM orders WHERE id = :o",
        o=order["order_id"],
    )
    assert row == "10.00 partially_refunded"

    # The platform's own refunds (as refund-process makes them: metadata.refund_id names the
    # row): two pending of one amount; the webhook confirms exactly the one it names.
    pending = [uuid.uuid4(), uuid.uuid4()]
    for refund_id in pending:
        await scalar(
            wdb,
            "INSERT INTO order_refunds (id, order_id, amount, currency, status)"
            " VALUES (:id, :o, 5.00, 'USD', 'pending') RETURNING id",
            id=refund_id,
            o=order["order_id"],
        )
    made = await client.v1.refunds.create_async(
        {"payment_intent": intent.id, "amount": 500, "metadata": {"refund_id": str(pending[1])}}
    )

    async def confirmed() -> bool:
        await apply_queued(wdb, loop.settings)
        return bool(
            await scalar(
                wdb,
                "SELECT count(*) FROM order_refunds WHERE provider_refund_id = :r",
                r=made.id,
            )
        )

    await wait_for(confirmed)
    refunds = await scalar(
        wdb,
        "SELECT string_agg(id::text || ' ' || status || ' ' || COALESCE(provider_refund_id, '-'),"
        " ',') FROM order_refunds WHERE id = ANY(:ids)",
        ids=pending,
    )
    assert sorted(refunds.split(",")) == sorted(
        [f"{pending[0]} pending -", f"{pending[1]} succeeded {made.id}"]
    )
    assert (
        await scalar(
            wdb, "SELECT count(*) FROM order_refunds WHERE order_id = :o", o=order["order_id"]
        )
        == 3
    )
    assert (
        await scalar(
            wdb,
            "SELECT refunded_amount || ' ' || status FROM orders WHERE id = :o",
            o=order["order_id"],
        )
        == "15.00 partially_refunded"
    )


async def test_square_and_quickbooks_deliveries_verify_over_http(loop: Loop, wdb: Database) -> None:
    """Bodies made, signed and sent by the sandbox's own modules (its Deliverer) to the served
    app: Square over the configured notification URL, QuickBooks in both shapes."""
    index = loop.index
    square_key = index["square"]["webhook_signature_key"]
    verifier = index["quickbooks"]["webhook_verifier_token"]
    square_url = f"{loop.app_url}{PATH}/square"
    deliverer = Deliverer(attempts=1)
    body = square_hooks.event_body("M1", "inventory.count.updated", "inventory", "", {})
    deliverer.send(
        body,
        {square_hooks.SIGNATURE_HEADER: square_hooks.sign(square_key, square_url, body)},
        url=square_url,
    )
    for shape in qbo_hooks.FORMATS:
        change = qbo_hooks.change_body(shape, "R1", "Item", "7", "Create")
        deliverer.send(
            change,
            {qbo_hooks.SIGNATURE_HEADER: qbo_hooks.sign(verifier, change)},
            url=f"{loop.app_url}{PATH}/quickbooks",
        )
    await deliverer.drain()
    assert [d.status for d in deliverer.sent] == [200, 200, 200], [
        d.as_dict() for d in deliverer.sent
    ]
    event_id = json.loads(body)["event_id"]
    assert (
        await scalar(
            wdb, "SELECT count(*) FROM integration_webhooks WHERE external_id = :e", e=event_id
        )
        == 1
    )


async def test_the_sandbox_retries_a_failed_delivery() -> None:
    """A receiver that fails twice gets the same signed bytes a third time."""
    seen: list[bytes] = []

    async def flaky(request: Request) -> Response:
        seen.append(await request.body())
        return Response(status_code=503 if len(seen) < 3 else 200)

    with serve_in_thread(Starlette(routes=[Route("/hook", flaky, methods=["POST"])])) as url:
        deliverer = Deliverer(url=f"{url}/hook", first_delay=0.05)
        deliverer.send('{"a": 1}', {"x-sig": "s"})
        await deliverer.drain()
    assert len(seen) == 3 and len(set(seen)) == 1
    assert deliverer.sent[0].status == 200 and deliverer.sent[0].attempts == 3


async def test_a_mailchimp_unsubscribe_clears_consent(loop: Loop, wdb: Database) -> None:
    order = await seed_order(wdb)
    index = loop.index["mailchimp"]
    api, auth = index["api_base_url"], ("any", index["api_key"])
    token = mailchimp_token(MAILCHIMP_SECRET, str(order["venue_id"]))
    url = f"{loop.app_url}{PATH}/mailchimp/{token}"
    async with httpx.AsyncClient(auth=auth) as http:
        created = await http.post(
            f"{api}/lists",
            json={
                "name": "Fans",
                "contact": {
                    "company": "Hall",
                    "address1": "1 Road",
                    "city": "Town",
                    "state": "",
                    "zip": "1",
                    "country": "US",
                },
                "permission_reminder": "You bought a ticket",
                "campaign_defaults": {
                    "from_name": "Hall",
                    "from_email": "hall@example.com",
                    "subject": "",
                    "language": "en",
                },
                "email_type_option": False,
            },
        )
        list_id = created.json()["id"]
        hook = await http.post(
            f"{api}/lists/{list_id}/webhooks",
            json={"url": url, "events": {"unsubscribe": True}, "sources": {"api": True}},
        )
        assert hook.status_code == 200, hook.text
        member = f"{api}/lists/{list_id}/members/{order['email']}"
        await http.put(
            member, json={"email_address": order["email"], "status_if_new": "subscribed"}
        )
        answer = await http.patch(member, json={"status": "unsubscribed"})
        assert answer.status_code == 200, answer.text

    consent = "SELECT marketing_consent FROM customers WHERE id = :c"

    async def stored() -> bool:
        return bool(
            await scalar(
                wdb,
                "SELECT count(*) FROM integration_webhooks WHERE venue_id = :v"
                " AND event_type = 'unsubscribe'",
                v=order["venue_id"],
            )
        )

    await wait_for(stored)
    await apply_queued(wdb, loop.settings)
    assert await scalar(wdb, consent, c=order["customer_id"]) is False
