"""Attacks first: every delivery whose bytes, secret, URL or time are not the provider's is
refused (401 in the shared envelope) and leaves no row; the genuine one is stored once.

Signatures come from independent implementations: the stripe SDK's signer (and its verifier
agreeing with our verdict), the squareup SDK's verifier, the sandbox's QuickBooks and Mandrill
signers (the code the local providers send with).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import httpx
import pytest
import stripe
from square.utils.webhooks_helper import verify_signature as square_sdk_verify
from tests.integrations.helpers import Sandbox
from tests.integrations.webhooks.support import (
    MAILCHIMP_SECRET,
    MANDRILL_KEY,
    MANDRILL_URL,
    PATH,
    SQUARE_URL,
    STRIPE_SECRET,
    count_rows,
    scalar,
    square_signature,
    stored,
    stripe_event,
    stripe_header,
)

from tickettoken.integrations.webhooks.signatures import mailchimp_token
from tickettoken.kit.db import Database
from tickettoken.sandbox.mandrill import mandrill_signature
from tickettoken.sandbox.quickbooks import webhooks as qbo
from tickettoken.sandbox.square import webhooks as square_events


def one_byte_changed(body: bytes) -> bytes:
    """The body with one character of its content changed (still valid JSON)."""
    index = max(i for i, byte in enumerate(body) if chr(byte).isdigit())
    changed = str((int(chr(body[index])) + 1) % 10).encode()
    return body[:index] + changed + body[index + 1 :]


def reserialised(body: bytes) -> bytes:
    """The same JSON content, written differently (what a parse-then-dump verifier checks)."""
    again = json.dumps(json.loads(body), separators=(",", ":")).encode()
    assert again != body and json.loads(again) == json.loads(body)
    return again


def assert_refused(answer: httpx.Response) -> None:
    assert answer.status_code == 401, answer.text
    body = answer.json()
    assert body["success"] is False and body["code"] == "UNAUTHORIZED", body
    assert "whsec" not in answer.text


async def post(
    client: httpx.AsyncClient, provider: str, body: bytes, **headers: str
) -> httpx.Response:
    return await client.post(f"{PATH}/{provider}", content=body, headers=headers)


# --- Stripe ------------------------------------------------------------------------------------


async def test_stripe_refuses_forged_tampered_reserialised_stale_and_wrong_secret(
    app_client: httpx.AsyncClient, wdb: Database
) -> None:
    body = stripe_event()
    event_id = json.loads(body)["id"]
    genuine = stripe_header(body)
    now = int(time.time())
    attacks = {
        "no header": (body, None),
        "forged": (body, f"t={now},v1={'ab' * 32}"),
        "malformed": (body, "v1=deadbeef"),
        "tampered": (one_byte_changed(body), genuine),
        "reserialised": (reserialised(body), genuine),
        "stale": (body, stripe_header(body, at=now - 301)),
        "wrong secret": (body, stripe_header(body, secret="whsec_someone_else")),
    }
    before = await count_rows(wdb)
    for name, (payload, header) in attacks.items():
        if header is not None:  # the SDK agrees each one is bad
            with pytest.raises(stripe.SignatureVerificationError):
                stripe.WebhookSignature.verify_header(
                    payload.decode(), header, STRIPE_SECRET, tolerance=300
                )
        headers = {"Stripe-Signature": header} if header else {}
        answer = await post(app_client, "stripe", payload, **headers)
        assert answer.status_code == 401, (name, answer.text)
        assert_refused(answer)
    assert await count_rows(wdb) == before
    assert await stored(wdb, "stripe", event_id) == []

    # The genuine bytes with the genuine header, and with a second (rolled) v1 beside it.
    assert stripe.WebhookSignature.verify_header(body.decode(), genuine, STRIPE_SECRET, 300)
    rolled = stripe_header(body, secret="whsec_old_secret").split(",")[1]
    answer = await post(app_client, "stripe", body, **{"Stripe-Signature": f"{genuine},{rolled}"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"] == {"received": 1, "duplicates": 0}
    again = await post(app_client, "stripe", body, **{"Stripe-Signature": genuine})
    assert again.status_code == 200 and again.json()["data"] == {"received": 0, "duplicates": 1}
    rows = await stored(wdb, "stripe", event_id)
    assert len(rows) == 1 and rows[0]["status"] == "pending"
    assert rows[0]["event_type"] == "customer.updated"


async def test_stripe_just_inside_the_tolerance_is_accepted(app_client: httpx.AsyncClient) -> None:
    body = stripe_event()
    answer = await post(
        app_client,
        "stripe",
        body,
        **{"Stripe-Signature": stripe_header(body, at=int(time.time()) - 290)},
    )
    assert answer.status_code == 200, answer.text


async def test_signed_but_not_an_event_is_a_400(app_client: httpx.AsyncClient) -> None:
    body = b'{"hello": "world"}'
    answer = await post(app_client, "stripe", body, **{"Stripe-Signature": stripe_header(body)})
    assert answer.status_code == 400 and answer.json()["code"] == "BAD_REQUEST", answer.text


async def test_signed_json_the_store_cannot_hold_is_a_400_and_stores_nothing(
    app_client: httpx.AsyncClient, wdb: Database
) -> None:
    """The event is stored as the bytes that arrived, so they must be UTF-8 JSON without a BOM
    (RFC 8259) and without NaN/Infinity (which ``jsonb`` refuses): anything else is the
    sender's error, never a 500 for the deliveries committed with it."""
    event = json.loads(stripe_event())
    bodies = {
        "NaN": json.dumps({**event, "amount": float("nan")}).encode(),
        "Infinity": json.dumps({**event, "amount": float("-inf")}).encode(),
        "UTF-16": json.dumps(event).encode("utf-16"),
        "BOM": b"\xef\xbb\xbf" + json.dumps(event).encode(),
        "NUL": json.dumps({**event, "note": "a\x00b"}).encode(),
        "NUL in a key": json.dumps({**event, "a\x00": 1}).encode(),
        "lone surrogate": json.dumps({**event, "note": "\ud800"}).encode(),
    }
    for name, body in bodies.items():
        # Signed over the bytes (the SDK's signer takes text, and UTF-16 is not UTF-8 text).
        at = str(int(time.time()))
        mac = hmac.new(STRIPE_SECRET.encode(), at.encode() + b"." + body, hashlib.sha256)
        header = f"t={at},v1={mac.hexdigest()}"
        answer = await post(app_client, "stripe", body, **{"Stripe-Signature": header})
        assert answer.status_code == 400, (name, answer.text)
        assert answer.json()["code"] == "BAD_REQUEST", (name, answer.text)
    assert not await stored(wdb, "stripe", event["id"])


async def test_an_event_is_stored_as_it_arrived(
    app_client: httpx.AsyncClient, wdb: Database
) -> None:
    """Not parsed and written again: a number beyond a float's precision keeps its digits;
    escaped text (a surrogate pair among it) is stored as its characters."""
    event = json.loads(stripe_event())
    exact = "0.1000000000000000055511151231257827"
    body = json.dumps({**event, "exact": "X", "note": "caf\u00e9 \U0001f600"})
    assert "\\ud83d\\ude00" in body
    body = body.replace('"X"', exact).encode()
    answer = await post(app_client, "stripe", body, **{"Stripe-Signature": stripe_header(body)})
    assert answer.status_code == 200, answer.text
    kept = await scalar(
        wdb,
        "SELECT payload->>'exact' FROM integration_webhooks"
        " WHERE integration_type = 'stripe' AND external_id = :e",
        e=event["id"],
    )
    assert kept == exact
    note = await scalar(
        wdb,
        "SELECT payload->>'note' FROM integration_webhooks"
        " WHERE integration_type = 'stripe' AND external_id = :e",
        e=event["id"],
    )
    assert note == "caf\u00e9 \U0001f600"


# --- Square ------------------------------------------------------------------------------------


async def test_square_refuses_forged_tampered_reserialised_wrong_key_and_other_url(
    app_client: httpx.AsyncClient, wdb: Database, sandbox: Sandbox
) -> None:
    key = sandbox.index["square"]["webhook_signature_key"]
    text_body = square_events.event_body("MERCHANT1", "customer.updated", "customer", "C1", {})
    body = text_body.encode()
    genuine = square_events.sign(key, SQUARE_URL, text_body)  # the sandbox's signer
    assert square_sdk_verify(
        request_body=text_body,
        signature_header=genuine,
        signature_key=key,
        notification_url=SQUARE_URL,
    )
    attacks = {
        "no header": (body, None),
        "forged": (body, "bm90IGEgc2lnbmF0dXJl"),
        "not base64": (body, "%%%"),
        "tampered": (one_byte_changed(body), genuine),
        "reserialised": (reserialised(body), genuine),
        "wrong key": (body, square_signature("another-key", SQUARE_URL, body)),
        "signed for another URL": (body, square_signature(key, "https://evil.example/hook", body)),
    }
    before = await count_rows(wdb)
    for name, (payload, header) in attacks.items():
        if header is not None:
            assert not square_sdk_verify(
                request_body=payload.decode(),
                signature_header=header,
                signature_key=key,
                notification_url=SQUARE_URL,
            ), name
        headers = {"x-square-hmacsha256-signature": header} if header else {}
        # A Host header naming the other URL changes nothing: the URL is configured.
        answer = await app_client.post(
            f"{PATH}/square", content=payload, headers={**headers, "host": "evil.example"}
        )
        assert answer.status_code == 401, (name, answer.text)
        assert_refused(answer)
    assert await count_rows(wdb) == before
    answer = await post(app_client, "square", body, **{"x-square-hmacsha256-signature": genuine})
    assert answer.status_code == 200, answer.text
    assert len(await stored(wdb, "square", json.loads(body)["event_id"])) == 1


# --- QuickBooks --------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", qbo.FORMATS)
async def test_quickbooks_both_shapes_and_refusals(
    app_client: httpx.AsyncClient, wdb: Database, sandbox: Sandbox, shape: str
) -> None:
    token = sandbox.index["quickbooks"]["webhook_verifier_token"]
    text_body = qbo.change_body(shape, "9130350000000001", "Customer", "58", "Update")
    body = text_body.encode()
    genuine = qbo.sign(token, text_body)
    attacks = {
        "no header": (body, None),
        "forged": (body, "Zm9yZ2Vk"),
        "tampered": (one_byte_changed(body), genuine),
        "reserialised": (reserialised(body), genuine),
        "wrong token": (body, qbo.sign("another-verifier-token", text_body)),
    }
    before = await count_rows(wdb)
    for name, (payload, header) in attacks.items():
        headers = {"intuit-signature": header} if header else {}
        answer = await post(app_client, "quickbooks", payload, **headers)
        assert answer.status_code == 401, (name, answer.text)
        assert_refused(answer)
    assert await count_rows(wdb) == before
    answer = await post(app_client, "quickbooks", body, **{"intuit-signature": genuine})
    assert answer.status_code == 200 and answer.json()["data"]["received"] == 1, answer.text
    again = await post(app_client, "quickbooks", body, **{"intuit-signature": genuine})
    assert again.json()["data"] == {"received": 0, "duplicates": 1}
    assert await count_rows(wdb) == before + 1


# --- Mandrill and Mailchimp --------------------------------------------------------------------


def mandrill_form(events: list[dict[str, object]]) -> dict[str, str]:
    return {"mandrill_events": json.dumps(events)}


async def test_mandrill_refuses_tampered_wrong_key_and_other_url(
    app_client: httpx.AsyncClient, wdb: Database
) -> None:
    form = mandrill_form(
        [{"event": "unsub", "_id": "m1", "ts": int(time.time()), "msg": {"email": "a@b.example"}}]
    )
    body = urlencode(form).encode()
    genuine = mandrill_signature(MANDRILL_KEY, MANDRILL_URL, form)  # the sandbox's signer
    tampered_form = {"mandrill_events": form["mandrill_events"].replace("a@b", "x@b")}
    attacks = {
        "no header": (body, None),
        "tampered": (urlencode(tampered_form).encode(), genuine),
        "extra field": (body + b"&z=1", genuine),
        "wrong key": (body, mandrill_signature("other", MANDRILL_URL, form)),
        "other url": (body, mandrill_signature(MANDRILL_KEY, "https://evil.example/x", form)),
    }
    before = await count_rows(wdb)
    form_type = {"content-type": "application/x-www-form-urlencoded"}
    for name, (payload, header) in attacks.items():
        headers = {**form_type, **({"X-Mandrill-Signature": header} if header else {})}
        answer = await post(app_client, "mailchimp", payload, **headers)
        assert answer.status_code == 401, (name, answer.text)
        assert_refused(answer)
    assert await count_rows(wdb) == before
    answer = await post(
        app_client, "mailchimp", body, **form_type, **{"X-Mandrill-Signature": genuine}
    )
    assert answer.status_code == 200 and answer.json()["data"]["received"] == 1, answer.text


async def test_mailchimp_audience_token_and_validation(
    app_client: httpx.AsyncClient, wdb: Database
) -> None:
    venue = "5b0f3a52-4a59-4e8c-8d7f-3f3a1d1b2c3d"
    token = mailchimp_token(MAILCHIMP_SECRET, venue)
    assert (await app_client.get(f"{PATH}/mailchimp")).status_code == 200
    assert (await app_client.get(f"{PATH}/mailchimp/{token}")).status_code == 200
    form = {
        "type": "unsubscribe",
        "fired_at": "2026-11-27 10:00:00",
        "data[list_id]": "L1",
        "data[email]": "someone@example.com",
        "data[id]": "abc",
    }
    body = urlencode(form).encode()
    before = await count_rows(wdb)
    other_venue = "6b0f3a52-4a59-4e8c-8d7f-3f3a1d1b2c3d"
    for bad in (
        "nonsense",
        f"{venue}.{'0' * 40}",
        mailchimp_token("wrong-secret", venue),
        f"{other_venue}.{token.split('.')[1]}",
    ):
        assert_refused(await app_client.get(f"{PATH}/mailchimp/{bad}"))
        assert_refused(await app_client.post(f"{PATH}/mailchimp/{bad}", content=body))
    assert await count_rows(wdb) == before
    form_type = {"content-type": "application/x-www-form-urlencoded"}
    answer = await app_client.post(f"{PATH}/mailchimp/{token}", content=body, headers=form_type)
    assert answer.status_code == 200 and answer.json()["data"]["received"] == 1, answer.text
    again = await app_client.post(f"{PATH}/mailchimp/{token}", content=body, headers=form_type)
    assert again.json()["data"] == {"received": 0, "duplicates": 1}
