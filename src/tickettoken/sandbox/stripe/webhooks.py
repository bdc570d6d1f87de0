"""Events and their signed delivery, the way Stripe sends them.

Each event is stored (``GET /v1/events``) and POSTed as JSON to every webhook endpoint that
enables its type (or ``*``), with ``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
"t.body" under the endpoint's whsec_ secret>``: what ``stripe.Webhook.construct_event`` checks.
Endpoints come from ``POST /v1/webhook_endpoints`` (the secret is shown once, on creation, as on
Stripe) or from the sandbox's configuration (``--stripe-webhook-url``, which gets every account's
events), whose secret the index lists. As on Stripe, an account's endpoints get its own events
and the platform's ``connect=true`` endpoints get its connected accounts' events. A failed
delivery is retried three times, a second apart (Stripe retries for days).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import httpx

from tickettoken.sandbox.credentials import derived
from tickettoken.sandbox.stripe.errors import missing_param
from tickettoken.sandbox.stripe.listing import list_page
from tickettoken.sandbox.stripe.state import Call, Obj, StripeState, new_id, now

DELIVERY_ATTEMPTS = 4
API_VERSION = "2025-03-31.basil"


def signature_header(secret: str, payload: bytes, timestamp: int | None = None) -> str:
    stamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{stamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


class Webhooks:
    def __init__(self, state: StripeState) -> None:
        self.state = state
        self.deliveries: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.connect_endpoints: set[str] = set()
        self.everything: set[str] = set()

    def configure(self, url: str, secret: str | None = None, secret_key: str | None = None) -> Obj:
        """The endpoint given on the command line, owned by the platform account. Without a
        secret of its own, its secret is derived from the sandbox's key the way the platform
        derives it in development (``integrations.webhooks.secrets``), so the local loop
        verifies without configuration."""
        if secret is None and secret_key is not None:
            secret = f"whsec_{derived(secret_key, 'stripe-webhook-secret', 32)}"
        endpoint = self._endpoint(url, ["*"], secret or f"whsec_{secrets.token_hex(16)}")
        self.everything.add(endpoint["id"])
        return self.state.add("we", endpoint, self.state.platform_account)

    def _wants(self, endpoint: Obj, account: str) -> bool:
        """Stripe's routing: an account's endpoints get its own events; the platform's
        ``connect=true`` endpoints get its connected accounts' events; the configured one all."""
        if endpoint["id"] in self.everything:
            return True
        owner, connect = (
            self.state.owner.get(endpoint["id"]),
            endpoint["id"] in self.connect_endpoints,
        )
        if owner == account:
            return not connect
        return owner == self.state.platform_account and connect

    def secrets_in_use(self) -> list[dict[str, str]]:
        return [
            {"url": e["url"], "secret": e["secret"]}
            for e in self.state.webhook_endpoints.values()
            if e["status"] == "enabled"
        ]

    def emit(self, kind: str, obj: Obj, account: str) -> Obj:
        event: Obj = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": now(),
            "data": {"object": dict(obj)},
            "livemode": False,
            "pending_webhooks": 0,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
        }
        if account != self.state.platform_account:
            event["account"] = account
        self.state.add("evt", event, account)
        for endpoint in list(self.state.webhook_endpoints.values()):
            if endpoint["status"] != "enabled" or not self._wants(endpoint, account):
                continue
            if "*" in endpoint["enabled_events"] or kind in endpoint["enabled_events"]:
                event["pending_webhooks"] += 1
                task = asyncio.get_running_loop().create_task(self._deliver(endpoint, event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return event

    async def _deliver(self, endpoint: Obj, event: Obj) -> None:
        payload = json.dumps(event, indent=2).encode()
        record: dict[str, Any] = {"event": event["id"], "url": endpoint["url"], "status": None}
        self.deliveries.append(record)
        async with httpx.AsyncClient(timeout=10.0) as client:
            for attempt in range(DELIVERY_ATTEMPTS):
                headers = {
                    "Content-Type": "application/json; charset=utf-8",
                    "Stripe-Signature": signature_header(endpoint["secret"], payload),
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                }
                try:
                    response = await client.post(endpoint["url"], content=payload, headers=headers)
                    record["status"] = response.status_code
                    if response.is_success:
                        event["pending_webhooks"] -= 1
                        return
                except httpx.HTTPError as exc:
                    record["status"] = f"error: {type(exc).__name__}"
                if attempt + 1 < DELIVERY_ATTEMPTS:
                    await asyncio.sleep(1.0)

    @staticmethod
    def _endpoint(url: str, events: list[str], secret: str) -> Obj:
        return {
            "id": new_id("we"),
            "object": "webhook_endpoint",
            "api_version": None,
            "created": now(),
            "description": None,
            "enabled_events": events,
            "livemode": False,
            "metadata": {},
            "secret": secret,
            "status": "enabled",
            "url": url,
        }

    # ---- API ----------------------------------------------------------------------------

    async def create_endpoint(self, call: Call) -> Obj:
        call.known("url", "enabled_events", "description", "metadata", "api_version", "connect")
        url, events = call.params.get("url"), call.params.get("enabled_events")
        if not url:
            raise missing_param("url")
        if not events:
            raise missing_param("enabled_events")
        endpoint = self._endpoint(str(url), list(events), f"whsec_{secrets.token_hex(16)}")
        endpoint["description"] = call.params.get("description")
        endpoint["metadata"] = call.params.get("metadata") or {}
        if str(call.params.get("connect", "")).lower() == "true":
            self.connect_endpoints.add(endpoint["id"])
        return self.state.add("we", endpoint, call.account)

    def _public(self, endpoint: Obj) -> Obj:
        return {k: v for k, v in endpoint.items() if k != "secret"}

    async def get_endpoint(self, call: Call) -> Obj:
        return self._public(self.state.get("we", call.path("id"), call.account))

    async def list_endpoints(self, call: Call) -> Obj:
        items = [self._public(e) for e in self.state.owned("we", call.account)]
        return list_page(items, call.params, "/v1/webhook_endpoints", "webhook_endpoint")

    async def delete_endpoint(self, call: Call) -> Obj:
        endpoint = self.state.get("we", call.path("id"), call.account)
        endpoint["status"] = "disabled"
        del self.state.webhook_endpoints[endpoint["id"]]
        return {"id": endpoint["id"], "object": "webhook_endpoint", "deleted": True}

    async def get_event(self, call: Call) -> Obj:
        return self.state.get("evt", call.path("id"), call.account)

    async def list_events(self, call: Call) -> Obj:
        items = self.state.owned("evt", call.account)
        if call.params.get("type"):
            items = [e for e in items if e["type"] == call.params["type"]]
        return list_page(items, call.params, "/v1/events", "event")
