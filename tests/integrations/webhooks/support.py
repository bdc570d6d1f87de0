"""Helpers of the webhook tests: the secrets the tests sign with, independent signers, a
stored-row reader and a worker run that applies every queued ``webhook`` job."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import stripe
import uvicorn
from sqlalchemy import text
from tests.integrations.workers import communication_worker

from tickettoken.kit.db import Database
from tickettoken.kit.settings import Settings

PATH = "/api/v1/integrations/webhooks"
STRIPE_SECRET = "whsec_webhook_tests_0123456789abcdef"
MANDRILL_KEY = "mandrill-webhook-tests-key"
MAILCHIMP_SECRET = "mailchimp-webhook-tests-secret"
API_URL = "https://platform.example"
SQUARE_URL = f"{API_URL}{PATH}/square"
MANDRILL_URL = f"{API_URL}{PATH}/mailchimp"


def stripe_header(body: bytes, secret: str = STRIPE_SECRET, at: int | None = None) -> str:
    """Signed by the stripe SDK's own helper (not our verifier's code)."""
    return str(stripe.WebhookSignature.generate_signature_header(body.decode(), secret, at))


def stripe_event(kind: str = "customer.updated", **extra: Any) -> bytes:
    event = {
        "id": f"evt_{hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:24]}",
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "data": {"object": {"id": "cus_x", "object": "customer"}},
        **extra,
    }
    return json.dumps(event, indent=2).encode()


def square_signature(key: str, url: str, body: bytes) -> str:
    digest = hmac.new(key.encode(), url.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


async def stored(database: Database, provider: str, external_id: str) -> list[dict[str, Any]]:
    async with database.transaction() as session:
        rows = await session.execute(
            text(
                "SELECT * FROM integration_webhooks"
                " WHERE integration_type = :p AND external_id = :e"
            ),
            {"p": provider, "e": external_id},
        )
        return [dict(r._mapping) for r in rows]


async def count_rows(database: Database) -> int:
    async with database.transaction() as session:
        return int(
            (await session.execute(text("SELECT count(*) FROM integration_webhooks"))).scalar_one()
        )


# The ``webhook`` job and the event-service jobs its effects enqueue.
APPLIED_TYPES = (
    "webhook",
    "provider-refund",
    "marketing-unsubscribe",
    "box-office-sale",
    "box-office-return",
)
OPEN_JOBS = (
    "SELECT count(*) FROM jobs_communication WHERE type = ANY(CAST(:types AS text[]))"
    " AND status NOT IN ('completed', 'failed', 'dead', 'cancelled') AND id > :mark"
)
# The last job id of each test database when the running test began (``mark_jobs``, an autouse
# fixture). A test waits for its own jobs only: an earlier test's job can still be open (a
# sandbox's late delivery for a venue whose token another test's key encrypted, retried for
# seconds), and waiting for it failed this test.
JOBS_MARK: dict[str, int] = {}


async def mark_jobs(database: Database) -> None:
    async with database.transaction() as session:
        last = (
            await session.execute(text("SELECT coalesce(max(id), 0) FROM jobs_communication"))
        ).scalar_one()
    JOBS_MARK[database.url] = int(last)


async def apply_queued(database: Database, settings: Settings, within: float = 30.0) -> None:
    """Run a worker over the communication queue until no ``webhook`` job, nor any job of the
    event service its effects enqueued, is left to do."""
    async with communication_worker(database, settings, concurrency=8):
        deadline = asyncio.get_running_loop().time() + within
        while True:
            async with database.transaction() as session:
                open_jobs = (
                    await session.execute(
                        text(OPEN_JOBS),
                        {"types": list(APPLIED_TYPES), "mark": JOBS_MARK.get(database.url, 0)},
                    )
                ).scalar_one()
            if open_jobs == 0:
                return
            if asyncio.get_running_loop().time() > deadline:
                async with database.transaction() as session:
                    rows = (
                        await session.execute(
                            text(
                                "SELECT id, type, status, attempts, run_at, locked_by,"
                                " locked_until, last_error FROM jobs_communication"
                                " WHERE id > :mark AND status NOT IN"
                                " ('completed', 'failed', 'dead', 'cancelled')"
                            ),
                            {"mark": JOBS_MARK.get(database.url, 0)},
                        )
                    ).all()
                raise AssertionError(f"{open_jobs} webhook jobs did not finish: {rows}")
            await asyncio.sleep(0.05)


async def seed_order(
    database: Database, total: str = "100.00", email: str | None = None
) -> dict[str, Any]:
    """A venue, an event, a customer (marketing consent given) and a paid order, in SQL (the
    event service's package is not the integration tests' to import)."""
    intent = f"pi_{hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:20]}"
    email = email or f"{intent}@buyer.example"
    async with database.transaction() as session:
        venue = (
            await session.execute(
                text("INSERT INTO venues (name, capacity) VALUES ('Hall', 500) RETURNING id")
            )
        ).scalar_one()
        event = (
            await session.execute(
                text(
                    "INSERT INTO events (venue_id, name, start_date, end_date, capacity)"
                    " VALUES (:v, 'Show', now() + interval '1 day', now() + interval '2 days',"
                    " 100) RETURNING id"
                ),
                {"v": venue},
            )
        ).scalar_one()
        customer = (
            await session.execute(
                text(
                    "INSERT INTO customers (venue_id, email, marketing_consent) VALUES"
                    " (:v, :e, true) RETURNING id"
                ),
                {"v": venue, "e": email},
            )
        ).scalar_one()
        order = (
            await session.execute(
                text(
                    "INSERT INTO orders (customer_id, event_id, status, total, payment_intent_id,"
                    " paid_at) VALUES (:c, :ev, 'paid', :t, :pi, now()) RETURNING id"
                ),
                {"c": customer, "ev": event, "t": total, "pi": intent},
            )
        ).scalar_one()
    return {
        "venue_id": venue,
        "event_id": event,
        "customer_id": customer,
        "order_id": order,
        "payment_intent": intent,
        "email": email,
    }


async def scalar(database: Database, sql: str, **params: Any) -> Any:
    async with database.transaction() as session:
        return (await session.execute(text(sql), params)).scalar_one()


@contextmanager
def serve_app(app: Any, port: int | None = None) -> Iterator[str]:
    """Serve an ASGI app (lifespan on) from a thread (on a free port unless given); yields its
    base URL."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("app did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
