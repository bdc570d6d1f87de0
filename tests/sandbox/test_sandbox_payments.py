"""The Stripe-compatible sandbox behaves like Stripe where the platform depends on it."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator
from email.message import EmailMessage

import httpx
import pytest
from tests.queue.handlers.handler_processes import free_port

from tickettoken.sandbox.app import create_sandbox_app
from tickettoken.sandbox.smtp import Mailbox, start_smtp

SECRET_KEY = "sk_test_x"
AUTH = {"Authorization": f"Bearer {SECRET_KEY}"}


@pytest.fixture
async def stripe() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_sandbox_app(secret_key=SECRET_KEY))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        yield client


async def _pay(client: httpx.AsyncClient, key: str, amount: int = 1000) -> httpx.Response:
    return await client.post(
        "/v1/payment_intents",
        headers={**AUTH, "Idempotency-Key": key},
        data={
            "amount": str(amount),
            "currency": "usd",
            "confirm": "true",
            "payment_method": "pm_card_visa",
            "metadata[order_id]": key,
        },
    )


async def test_idempotency_key_replays_the_first_answer(stripe: httpx.AsyncClient) -> None:
    first, *repeats = await asyncio.gather(*(_pay(stripe, "order-1") for _ in range(5)))
    assert first.status_code == 200 and first.json()["status"] == "succeeded"
    assert {r.json()["id"] for r in repeats} == {first.json()["id"]}
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in [first, *repeats]) == 4
    other = await _pay(stripe, "order-1", amount=999)
    assert other.status_code == 400 and other.json()["error"]["type"] == "idempotency_error"
    stats = (await stripe.get("/_sandbox/payments/stats")).json()
    assert stats["charges"] == 1 and stats["orders_charged_twice"] == []


async def test_auth_declines_and_refunds(stripe: httpx.AsyncClient) -> None:
    assert (await stripe.post("/v1/payment_intents", data={"amount": "1"})).status_code == 401
    other_key = {"Authorization": "Bearer sk_test_someone_else"}
    assert (await _pay(stripe, "order-x")).status_code == 200
    refused = await stripe.post("/v1/payment_intents", headers=other_key, data={"amount": "1"})
    assert refused.status_code == 401
    declined = await stripe.post(
        "/v1/payment_intents",
        headers=AUTH,
        data={
            "amount": "500",
            "currency": "usd",
            "confirm": "true",
            "payment_method": "pm_card_chargeDeclined",
        },
    )
    assert declined.status_code == 402 and declined.json()["error"]["code"] == "card_declined"
    intent = (await _pay(stripe, "order-2", amount=1000)).json()
    part = await stripe.post(
        "/v1/refunds", headers=AUTH, data={"payment_intent": intent["id"], "amount": "400"}
    )
    assert part.status_code == 200 and part.json()["amount"] == 400
    rest = await stripe.post("/v1/refunds", headers=AUTH, data={"payment_intent": intent["id"]})
    assert rest.json()["amount"] == 600
    again = await stripe.post("/v1/refunds", headers=AUTH, data={"payment_intent": intent["id"]})
    assert again.status_code == 400 and again.json()["error"]["code"] == "charge_already_refunded"


async def test_no_payment_method_no_payment(stripe: httpx.AsyncClient) -> None:
    """Stripe refuses to confirm a PaymentIntent without a payment method (400)."""
    form = {"amount": "700", "currency": "usd", "confirm": "true"}
    refused = await stripe.post("/v1/payment_intents", headers=AUTH, data=form)
    assert refused.status_code == 400
    assert refused.json()["error"]["type"] == "invalid_request_error"
    created = await stripe.post(
        "/v1/payment_intents", headers=AUTH, data={"amount": "700", "currency": "usd"}
    )
    confirm = await stripe.post(
        f"/v1/payment_intents/{created.json()['id']}/confirm", headers=AUTH, data={}
    )
    assert confirm.status_code == 400
    stats = (await stripe.get("/_sandbox/payments/stats")).json()
    assert stats["charges"] == 0


async def test_injected_429_says_retry(stripe: httpx.AsyncClient) -> None:
    plan = {"status": 429, "count": 1}
    assert (await stripe.post("/_sandbox/payments/faults", json=plan)).status_code == 401
    assert (await stripe.post("/_sandbox/payments/faults", json=plan, headers=AUTH)).is_success
    limited = await _pay(stripe, "order-3")
    assert limited.status_code == 429
    assert limited.headers["Stripe-Should-Retry"] == "true" and limited.headers["Retry-After"]
    assert (await _pay(stripe, "order-3")).status_code == 200


async def test_smtp_server_keeps_messages() -> None:
    mailbox = Mailbox()
    port = free_port()
    controller = start_smtp(mailbox, "127.0.0.1", port)
    try:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@x.test", "b@y.test", "Hello"
        message.set_content("body text")

        def send() -> None:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                smtp.send_message(message)

        await asyncio.to_thread(send)
    finally:
        controller.stop()
    assert mailbox.messages[0]["subject"] == "Hello"
    assert mailbox.messages[0]["to"] == ["b@y.test"]
