"""The QuickBooks Online emulator under its own base URL (``/quickbooks``): OAuth and Accounting.

Paths mirror Intuit's hosts folded under one prefix: the discovery document at
``/.well-known/openid_configuration`` (and ``openid_sandbox_configuration``), authorize at
``/connect/oauth2``, tokens at ``/oauth2/v1/tokens/bearer``, revoke at
``/oauth2/v1/tokens/revoke``, and the Accounting API at ``/v3/company/{realmId}/...``.

Limits as Intuit documents them: 500 requests per minute and 10 per second per realm (a batch
counts once), and 40 batch requests per minute per realm, answered with ``429`` and the
``ThrottleExceeded`` fault; at most 30 operations per batch; a repeated ``requestid`` replays the
first answer instead of writing twice. Entity changes are posted to the configured webhook URL
signed with ``intuit-signature`` (base64 HMAC-SHA256 of the body keyed by the verifier token), as
the classic ``eventNotifications`` payload or as the CloudEvents array. Sandbox controls under
``/quickbooks/_sandbox/...`` need the sandbox's key: ``webhooks`` (``url``, ``format``; GET lists
deliveries), ``app`` (``redirect_uris``, ``deny_all``, the platform's own ``client_id``/
``client_secret``/``verifier_token``), ``limits``, ``refresh-grace`` (``seconds``), ``expire``
(``access_token``), ``stats`` (``token_requests``, for refresh-race tests) and ``reset``.
Point ``python-quickbooks``'s ``api_url_v3`` (or the platform's own client) at
``<sandbox>/quickbooks/v3``.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections import defaultdict, deque
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.types import Receive, Scope, Send

from tickettoken.sandbox.common import has_key, invalid_key_response
from tickettoken.sandbox.credentials import derived
from tickettoken.sandbox.delivery import Deliverer
from tickettoken.sandbox.dispatch import PathTable
from tickettoken.sandbox.quickbooks import webhooks
from tickettoken.sandbox.quickbooks.company import ENTITIES, Company
from tickettoken.sandbox.quickbooks.faults import (
    QboFault,
    forbidden,
    oauth_error,
    qbo_time,
    throttled,
    unauthorized,
)
from tickettoken.sandbox.quickbooks.oauth import ClientApp, IntuitOAuth
from tickettoken.sandbox.quickbooks.query import parse, run

PREFIX = "/quickbooks"
MAX_BATCH = 30
LOWER = {name.lower(): name for name in ENTITIES}


class QuickBooksAPI:
    name = "quickbooks"

    def __init__(self, secret_key: str) -> None:
        self.secret_key = secret_key
        self.app = ClientApp(
            client_id=f"AB{derived(secret_key, 'qbo-client-id', 48)}",
            client_secret=derived(secret_key, "qbo-client-secret", 40),
        )
        self.verifier_token = derived(secret_key, "qbo-webhook-verifier", 36)
        self.per_second, self.per_minute, self.batches_per_minute = 10, 500, 40
        self.webhook_format = "classic"
        self.reset()
        self.table = PathTable()
        self.table.add("GET", "/v3/company/{realm}/query", self.query)
        self.table.add("POST", "/v3/company/{realm}/query", self.query)
        self.table.add("POST", "/v3/company/{realm}/batch", self.batch)
        self.table.add("GET", "/v3/company/{realm}/{entity}/{object_id}", self.read)
        self.table.add("POST", "/v3/company/{realm}/{entity}", self.write)

    def reset(self) -> None:
        self.companies: dict[str, Company] = {}
        self.oauth = IntuitOAuth(self.app, self.new_company)
        self.hooks = Deliverer()
        self.windows: dict[str, deque[float]] = defaultdict(deque)
        self.batch_windows: dict[str, deque[float]] = defaultdict(deque)
        self.replies: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}

    def new_company(self) -> str:
        realm_id = str(9130350000000000 + secrets.randbelow(10**12))
        while realm_id in self.companies:
            realm_id = str(9130350000000000 + secrets.randbelow(10**12))
        company = Company(realm_id, f"Sandbox Company US {len(self.companies) + 1}")
        company.on_change = lambda entity, id_, op: self._changed(realm_id, entity, id_, op)
        self.companies[realm_id] = company
        return realm_id

    def routes(self) -> list[BaseRoute]:
        return [Mount(PREFIX, app=self)]

    def describe(self, base_url: str) -> dict[str, Any]:
        base = f"{base_url}{PREFIX}"
        return {
            "api_base_url": f"{base}/v3",
            "discovery_url": f"{base}/.well-known/openid_configuration",
            "authorize_url": f"{base}/connect/oauth2",
            "token_url": f"{base}/oauth2/v1/tokens/bearer",
            "revoke_url": f"{base}/oauth2/v1/tokens/revoke",
            "client_id": self.app.client_id,
            "client_secret": self.app.client_secret,
            "webhook_verifier_token": self.verifier_token,
            "webhook_signature_header": "intuit-signature",
            "webhook_url": self.hooks.url,
            "webhook_format": self.webhook_format,
            "refresh_grace_seconds": self.oauth.grace,
            "webhook_signing_secrets": [{"url": self.hooks.url, "secret": self.verifier_token}],
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        path = scope["path"][len(PREFIX) :] if scope["path"].startswith(PREFIX) else scope["path"]
        try:
            response = await self._handle(request, path.rstrip("/") or "/")
        except QboFault as fault:
            response = fault.response()
        except (ValueError, TypeError, KeyError, AttributeError):
            # A value of the wrong type somewhere in the body: still a Fault, never a bare 500.
            response = QboFault(
                "2010", "Request has invalid or unsupported property", "The request is malformed."
            ).response()
        # Intuit tags every answer with a transaction id support asks for; SDKs read it.
        response.headers["intuit_tid"] = uuid.uuid4().hex
        await response(scope, receive, send)

    async def _handle(self, request: Request, path: str) -> Response:
        method = request.method
        base = f"{request.url.scheme}://{request.url.netloc}{PREFIX}"
        if path.startswith("/_sandbox/"):
            return await self._control(request, path)
        if path.startswith("/.well-known/openid_") and path.endswith("configuration"):
            return JSONResponse(self.oauth.discovery(base))
        if path == "/connect/oauth2" and method == "GET":
            return self.oauth.authorize(request)
        if path == "/oauth2/v1/tokens/bearer" and method == "POST":
            form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
            return self.oauth.token(request, form)
        if path == "/oauth2/v1/tokens/revoke" and method == "POST":
            return await self._revoke(request)
        if path == "/op/v1/jwks":
            return JSONResponse({"keys": []})
        if path == "/v1/openid_connect/userinfo":
            access, reason = self.oauth.bearer(request)
            if access is None:
                return unauthorized(reason)
            return JSONResponse({"sub": access.realm_id, "email": "owner@sandbox.example"})
        handler, params, _ = self.table.match(method, path)
        if handler is None:
            raise QboFault(
                "500",
                "Unsupported Operation",
                f"Operation {method} {path} is not supported.",
                status=404,
            )
        access, reason = self.oauth.bearer(request)
        if access is None:
            return unauthorized(reason)
        realm = params["realm"]
        if access.realm_id != realm or realm not in self.companies:
            return forbidden()
        self._throttle(realm, batch=path.endswith("/batch"))
        request_id = request.query_params.get("requestid")
        slot = (realm, f"{method} {path} {request_id}")
        if request_id and slot in self.replies:
            status, body = self.replies[slot]
            return JSONResponse(body, status_code=status)
        try:
            body = await handler(request, self.companies[realm], params)
            status = 200
        except QboFault as fault:
            if fault.status == 429:
                raise
            status, body = fault.status, {"Fault": fault.fault(), "time": qbo_time(millis=True)}
        if request_id and method == "POST":
            self.replies[slot] = (status, body)
        return JSONResponse(body, status_code=status)

    def _throttle(self, realm: str, *, batch: bool) -> None:
        now = time.monotonic()
        window, batches = self.windows[realm], self.batch_windows[realm]
        for recent in (window, batches):
            while recent and now - recent[0] >= 60.0:
                recent.popleft()
        last_second = sum(1 for t in window if now - t < 1.0)
        if last_second >= self.per_second or len(window) >= self.per_minute:
            raise throttled()
        if batch and len(batches) >= self.batches_per_minute:
            raise throttled()
        window.append(now)
        if batch:
            batches.append(now)

    async def _revoke(self, request: Request) -> Response:
        raw = await request.body()
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = dict(parse_qsl(raw.decode()))
        if not self.oauth.client_ok(request, {}):
            return oauth_error("invalid_client", 401)
        if not data.get("token"):
            return oauth_error("invalid_request")
        self.oauth.revoke(str(data["token"]))
        return Response(status_code=200)

    # -- Accounting API

    async def read(self, request: Request, company: Company, params: dict[str, str]) -> Any:
        entity = _entity(params["entity"])
        return {entity: company.read(entity, params["object_id"]), "time": qbo_time(millis=True)}

    async def write(self, request: Request, company: Company, params: dict[str, str]) -> Any:
        entity = _entity(params["entity"])
        body = await _json_object(request)
        operation = request.query_params.get("operation")
        return {
            entity: self._operate(company, entity, operation, body),
            "time": qbo_time(millis=True),
        }

    def _operate(
        self, company: Company, entity: str, operation: str | None, body: dict[str, Any]
    ) -> dict[str, Any]:
        if operation == "delete":
            return company.delete(entity, body)
        if operation == "update" or body.get("Id"):
            return company.update(entity, body)
        if operation not in (None, "create"):
            raise QboFault("500", "Unsupported Operation", f"Operation {operation} is unknown.")
        return company.create(entity, body)

    async def query(self, request: Request, company: Company, params: dict[str, str]) -> Any:
        text = request.query_params.get("query")
        if text is None and request.method == "POST":
            text = (await request.body()).decode()
        if not text:
            raise QboFault("4000", "Error parsing query", "QueryParserError: empty query")
        return {"QueryResponse": self._run(company, text), "time": qbo_time(millis=True)}

    def _run(self, company: Company, text: str) -> dict[str, Any]:
        parsed = parse(text, LOWER)
        return run(parsed, list(company.store[parsed.entity].values()))

    async def batch(self, request: Request, company: Company, params: dict[str, str]) -> Any:
        items = (await _json_object(request)).get("BatchItemRequest")
        if not isinstance(items, list) or not items:
            raise QboFault(
                "2020",
                "Required param missing, need to supply the required value for the API",
                "Required parameter BatchItemRequest is missing",
            )
        if len(items) > MAX_BATCH:
            raise QboFault(
                "1040",
                "Batch size exceeded",
                f"Batch request has {len(items)} items; the maximum is {MAX_BATCH}.",
            )
        answers = []
        for item in items:
            bid = str(item.get("bId", ""))
            try:
                answers.append({"bId": bid, **self._batch_item(company, item)})
            except QboFault as fault:
                answers.append({"bId": bid, "Fault": fault.fault()})
        return {"BatchItemResponse": answers, "time": qbo_time(millis=True)}

    def _batch_item(self, company: Company, item: dict[str, Any]) -> dict[str, Any]:
        if "Query" in item:
            return {"QueryResponse": self._run(company, str(item["Query"]))}
        entity = next((name for name in ENTITIES if name in item), None)
        if entity is None:
            raise QboFault("500", "Unsupported Operation", "No entity in the batch item.")
        return {entity: self._operate(company, entity, item.get("operation"), item[entity])}

    # -- webhooks and sandbox controls

    def _changed(self, realm: str, entity: str, object_id: str, operation: str) -> None:
        if not self.hooks.url:
            return
        found = self.companies[realm].store.get(entity, {}).get(object_id) or {}
        when = (found.get("MetaData") or {}).get("LastUpdatedTime")
        body = webhooks.change_body(self.webhook_format, realm, entity, object_id, operation, when)
        self.hooks.send(body, {webhooks.SIGNATURE_HEADER: webhooks.sign(self.verifier_token, body)})

    async def _control(self, request: Request, path: str) -> Response:
        if not has_key(request, self.secret_key):
            return invalid_key_response()
        if path == "/_sandbox/webhooks" and request.method == "GET":
            await self.hooks.drain()
            return JSONResponse({"deliveries": [d.as_dict() for d in self.hooks.sent]})
        data = await _json_object(request) if request.method == "POST" else {}
        if path == "/_sandbox/webhooks":
            self.hooks.url = data.get("url") or None
            chosen = str(data.get("format", self.webhook_format))
            if chosen not in webhooks.FORMATS:
                return JSONResponse({"error": f"format must be one of {webhooks.FORMATS}"}, 400)
            self.webhook_format = chosen
        elif path == "/_sandbox/app":
            self.app.redirect_uris = list(data.get("redirect_uris", self.app.redirect_uris))
            self.app.deny_all = bool(data.get("deny_all", self.app.deny_all))
            # The platform's configured credentials may be adopted instead of the derived ones.
            self.app.client_id = str(data.get("client_id", self.app.client_id))
            self.app.client_secret = str(data.get("client_secret", self.app.client_secret))
            self.verifier_token = str(data.get("verifier_token", self.verifier_token))
        elif path == "/_sandbox/limits":
            self.per_second = int(data.get("per_second", self.per_second))
            self.per_minute = int(data.get("per_minute", self.per_minute))
            self.batches_per_minute = int(data.get("batches_per_minute", self.batches_per_minute))
            self.windows.clear()
            self.batch_windows.clear()
        elif path == "/_sandbox/refresh-grace":
            self.oauth.grace = float(data.get("seconds", self.oauth.grace))
        elif path == "/_sandbox/expire":
            access = self.oauth.access.get(str(data.get("access_token")))
            if access is not None:
                access.expires_at = time.time() - 1
        elif path == "/_sandbox/reset":
            self.reset()
        elif path != "/_sandbox/stats":
            return JSONResponse({"error": f"no sandbox control at {path}"}, status_code=404)
        return JSONResponse({"ok": True, "token_requests": self.oauth.token_requests})


def _entity(name: str) -> str:
    entity = LOWER.get(name.lower())
    if entity is None:
        raise QboFault("500", "Unsupported Operation", f"Entity {name} is not supported.")
    return entity


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw) if raw else {}
    except ValueError as error:
        raise QboFault(
            "2010",
            "Request has invalid or unsupported property",
            "The request body is not valid JSON.",
        ) from error
    if not isinstance(data, dict):
        raise QboFault(
            "2010",
            "Request has invalid or unsupported property",
            "The request body must be a JSON object.",
        )
    return data
