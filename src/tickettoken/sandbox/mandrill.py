"""Mailchimp Transactional (Mandrill): webhook management and signed webhook deliveries.

Mandrill calls are ``POST /api/1.0/<group>/<call>[.json]`` with a JSON body carrying ``key``;
errors are HTTP 500 with ``{"status": "error", "code", "name", "message"}``. A new webhook's URL
must answer a HEAD request first, as Mandrill checks. A webhook's
``auth_key`` signs each delivery: ``X-Mandrill-Signature`` is base64(HMAC-SHA1(auth_key, the
webhook URL followed by every POST field name and value, sorted by name)), and the POST carries
the events as the form field ``mandrill_events``. ``POST /_sandbox/mandrill/webhooks/{id}/send``
(the sandbox's own key) delivers events to a webhook so part 2 can test its verifier.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tickettoken.sandbox.common import has_key

PREFIX = "/mandrill/api/1.0"


def mandrill_signature(key: str, url: str, params: dict[str, str]) -> str:
    signed = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(key.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _error(code: int, name: str, message: str) -> Response:
    body = {"status": "error", "code": code, "name": name, "message": message}
    return JSONResponse(body, status_code=500)


class MandrillAPI:
    name = "mandrill"

    def __init__(self, secret_key: str) -> None:
        self.secret_key = secret_key
        self.api_key = "md-" + hashlib.sha256(b"mandrill:" + secret_key.encode()).hexdigest()[:22]
        self.webhooks: dict[int, dict[str, Any]] = {}
        self.next_id = 1

    def reset(self) -> None:
        self.webhooks.clear()

    def describe(self, base_url: str) -> dict[str, Any]:
        return {
            "api_base_url": base_url + PREFIX,
            "api_key": self.api_key,
            "webhook_signing_secrets": [
                {"id": w["id"], "url": w["url"], "secret": w["auth_key"]}
                for w in self.webhooks.values()
            ],
        }

    def routes(self) -> list[BaseRoute]:
        return [
            Route(f"{PREFIX}/{{group}}/{{call}}", self.handle, methods=["POST"]),
            Route("/_sandbox/mandrill/webhooks/{id:int}/send", self.send, methods=["POST"]),
        ]

    async def handle(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return _error(-2, "ValidationError", "You must specify a key value")
        given = str(body.get("key", ""))
        if not secrets.compare_digest(given.encode(), self.api_key.encode()):
            return _error(-1, "Invalid_Key", "Invalid API key")
        call = f"{request.path_params['group']}/{request.path_params['call'].removesuffix('.json')}"
        if call == "users/ping":
            return JSONResponse("PONG!")
        if call == "users/ping2":
            return JSONResponse({"PING": "PONG!"})
        if call == "webhooks/list":
            return JSONResponse(list(self.webhooks.values()))
        if call == "webhooks/add":
            return await self._add(body)
        if call in ("webhooks/info", "webhooks/delete", "webhooks/key-reset", "webhooks/update"):
            return self._one(call, body)
        return _error(-1, "Invalid_Call", f"Unknown method {call}")

    async def _add(self, body: dict[str, Any]) -> Response:
        url = str(body.get("url") or "")
        if not url.startswith(("http://", "https://")) or not await self._answers_head(url):
            return _error(
                -2, "ValidationError", 'Validation error: {"url":"Please enter a valid URL"}'
            )
        hook = {
            "id": self.next_id,
            "url": url,
            "description": body.get("description") or "",
            "auth_key": secrets.token_urlsafe(16),
            "events": list(body.get("events") or []),
            "created_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "last_sent_at": None,
            "batches_sent": 0,
            "events_sent": 0,
            "last_error": None,
        }
        self.webhooks[self.next_id] = hook
        self.next_id += 1
        return JSONResponse(hook)

    @staticmethod
    async def _answers_head(url: str) -> bool:
        """Mandrill checks a new webhook URL with a HEAD request before it accepts it."""
        async with httpx.AsyncClient(timeout=5.0) as client:
            try:
                return (await client.head(url)).is_success
            except httpx.HTTPError:
                return False

    def _one(self, call: str, body: dict[str, Any]) -> Response:
        try:
            hook_id = int(body.get("id", 0))
        except (TypeError, ValueError):
            hook_id = 0
        hook = self.webhooks.get(hook_id)
        if hook is None:
            return _error(3, "Unknown_Webhook", f"No webhook exists with the id '{body.get('id')}'")
        if call == "webhooks/delete":
            del self.webhooks[hook_id]
        elif call == "webhooks/key-reset":
            hook["auth_key"] = secrets.token_urlsafe(16)
        elif call == "webhooks/update":
            hook["url"] = str(body.get("url") or hook["url"])
            hook["description"] = body.get("description", hook["description"])
            hook["events"] = list(body.get("events") or hook["events"])
        return JSONResponse(hook)

    async def send(self, request: Request) -> Response:
        """Deliver events (``{"events": [...]}``) to one webhook, signed with its key."""
        if not has_key(request, self.secret_key):
            return JSONResponse({"error": "the sandbox's own key is required"}, status_code=401)
        hook = self.webhooks.get(request.path_params["id"])
        if hook is None:
            return JSONResponse({"error": "no such webhook"}, status_code=404)
        data = await request.json()
        events = data.get("events") or [{"event": "send", "ts": int(time.time()), "msg": {}}]
        form = {"mandrill_events": json.dumps(events)}
        headers = {"X-Mandrill-Signature": mandrill_signature(hook["auth_key"], hook["url"], form)}
        async with httpx.AsyncClient(timeout=10.0) as client:
            try:
                response = await client.post(hook["url"], data=form, headers=headers)
                status: int | str = response.status_code
            except httpx.HTTPError as exc:
                status = f"error: {type(exc).__name__}"
        hook["batches_sent"] += 1
        hook["events_sent"] += len(events)
        hook["last_sent_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        if not isinstance(status, int) or status >= 400:
            hook["last_error"] = str(status)
        return JSONResponse({"status": status, "signature": headers["X-Mandrill-Signature"]})
