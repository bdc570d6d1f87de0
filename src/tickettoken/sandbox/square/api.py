"""The Square emulator mounted under its own base URL (``/square``): routing, auth, limits, hooks.

Every answer, including unknown routes, wrong methods, bad JSON, 401 and 429, is in Square's
``errors`` shape, because the official SDK turns exactly that into ``ApiError.errors``. Requests
carry ``Square-Version: YYYY-MM-DD`` (checked for format; the SDK always sends one). Rate limit:
Square does not publish its limits, so the sandbox uses a configurable per-access-token window
(default 10 requests/s) and answers ``429 RATE_LIMITED``. Writes that Square announces by webhook
(customers, catalog, payments, inventory) are posted to the configured subscription URL, signed
with ``x-square-hmacsha256-signature`` = base64(HMAC-SHA256(signature key, URL + body)).

Sandbox controls live under ``/square/_sandbox/...`` and need the sandbox's own key:
``webhooks`` (POST ``{"url"}`` sets the subscription, GET lists deliveries), ``app``
(``redirect_uris``, ``deny_all``, and the platform's own ``client_id``/``client_secret``/
``signature_key`` to adopt), ``rate-limit`` (``per_second``), ``expire`` (``access_token``) and
``reset``.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.types import Receive, Scope, Send

from tickettoken.sandbox.common import has_key, invalid_key_response
from tickettoken.sandbox.credentials import derived
from tickettoken.sandbox.delivery import Deliverer
from tickettoken.sandbox.dispatch import PathTable
from tickettoken.sandbox.square import webhooks
from tickettoken.sandbox.square.catalog import Catalog
from tickettoken.sandbox.square.customers import Customers
from tickettoken.sandbox.square.errors import SquareError, bad_request, not_found, rate_limited
from tickettoken.sandbox.square.oauth import SquareOAuth
from tickettoken.sandbox.square.sales import Sales
from tickettoken.sandbox.square.state import App, Seller

PREFIX = "/square"
VERSION_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class Call:
    """One authenticated API request: the seller it acts for, its path params and JSON body."""

    request: Request
    seller: Seller
    params: dict[str, str]
    body: dict[str, Any]


class SquareAPI:
    name = "square"

    def __init__(self, secret_key: str) -> None:
        self.secret_key = secret_key
        self.app = App(
            client_id=f"sandbox-sq0idb-{derived(secret_key, 'square-app-id')}",
            client_secret=f"sandbox-sq0csb-{derived(secret_key, 'square-app-secret', 43)}",
        )
        self.signature_key = derived(secret_key, "square-webhook-signature-key")
        self.per_second = 10
        self.reset()
        self.table = PathTable()
        self.required: dict[str, str] = {}
        self._register()

    def reset(self) -> None:
        self.sellers: dict[str, Seller] = {}
        self.oauth = SquareOAuth(self.app, self.sellers)
        self.hooks = Deliverer()
        self.windows: dict[str, deque[float]] = defaultdict(deque)
        self.versions_seen: set[str] = set()

    def routes(self) -> list[BaseRoute]:
        return [Mount(PREFIX, app=self)]

    def describe(self, base_url: str) -> dict[str, Any]:
        return {
            "api_base_url": f"{base_url}{PREFIX}",
            "oauth_base_url": f"{base_url}{PREFIX}",
            "authorize_url": f"{base_url}{PREFIX}/oauth2/authorize",
            "token_url": f"{base_url}{PREFIX}/oauth2/token",
            "application_id": self.app.client_id,
            "application_secret": self.app.client_secret,
            "webhook_signature_key": self.signature_key,
            "webhook_signature_header": "x-square-hmacsha256-signature",
            "webhook_subscription_url": self.hooks.url,
            "webhook_signing_secrets": [{"url": self.hooks.url, "secret": self.signature_key}],
        }

    def _register(self) -> None:
        """Every endpoint with the OAuth permission Square requires for it."""
        routes = [
            ("GET", "/v2/merchants/{merchant_id}", self.merchant, "MERCHANT_PROFILE_READ"),
            ("GET", "/v2/merchants", self.merchants, "MERCHANT_PROFILE_READ"),
            ("GET", "/v2/locations", self.locations, "MERCHANT_PROFILE_READ"),
            ("GET", "/v2/locations/{location_id}", self.location, "MERCHANT_PROFILE_READ"),
            ("POST", "/v2/catalog/batch-upsert", self.catalog_upsert, "ITEMS_WRITE"),
            ("GET", "/v2/catalog/list", self.catalog_list, "ITEMS_READ"),
            ("POST", "/v2/catalog/search", self.catalog_search, "ITEMS_READ"),
            ("POST", "/v2/catalog/batch-retrieve", self.catalog_retrieve, "ITEMS_READ"),
            ("GET", "/v2/catalog/object/{object_id}", self.catalog_object, "ITEMS_READ"),
            ("POST", "/v2/customers", self.customer_create, "CUSTOMERS_WRITE"),
            ("GET", "/v2/customers", self.customer_list, "CUSTOMERS_READ"),
            ("POST", "/v2/customers/search", self.customer_search, "CUSTOMERS_READ"),
            ("POST", "/v2/customers/bulk-create", self.customer_bulk_create, "CUSTOMERS_WRITE"),
            ("POST", "/v2/customers/bulk-update", self.customer_bulk_update, "CUSTOMERS_WRITE"),
            ("GET", "/v2/customers/{customer_id}", self.customer_get, "CUSTOMERS_READ"),
            ("PUT", "/v2/customers/{customer_id}", self.customer_update, "CUSTOMERS_WRITE"),
            ("POST", "/v2/orders", self.order_create, "ORDERS_WRITE"),
            ("POST", "/v2/orders/search", self.order_search, "ORDERS_READ"),
            ("POST", "/v2/payments", self.payment_create, "PAYMENTS_WRITE"),
            ("GET", "/v2/payments", self.payment_list, "PAYMENTS_READ"),
            ("GET", "/v2/payments/{payment_id}", self.payment_get, "PAYMENTS_READ"),
            (
                "POST",
                "/v2/inventory/changes/batch-create",
                self.inventory_change,
                "INVENTORY_WRITE",
            ),
            ("POST", "/v2/inventory/batch-change", self.inventory_change, "INVENTORY_WRITE"),
            (
                "POST",
                "/v2/inventory/counts/batch-retrieve",
                self.inventory_counts,
                "INVENTORY_READ",
            ),
            (
                "POST",
                "/v2/inventory/batch-retrieve-counts",
                self.inventory_counts,
                "INVENTORY_READ",
            ),
        ]
        for method, template, handler, scope in routes:
            self.table.add(method, template, handler)
            self.required[handler.__name__] = scope

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        path = scope["path"][len(PREFIX) :] if scope["path"].startswith(PREFIX) else scope["path"]
        try:
            response = await self._handle(request, path or "/")
        except SquareError as error:
            response = error.response()
        except (ValueError, TypeError, KeyError, AttributeError):
            # A value of the wrong type somewhere in the body: still Square's shape, never a 500.
            response = bad_request("BAD_REQUEST", "The request is malformed.").response()
        await response(scope, receive, send)

    async def _handle(self, request: Request, path: str) -> Response:
        method = request.method
        if path.startswith("/_sandbox/"):
            return await self._control(request, path)
        if path == "/oauth2/authorize" and method == "GET":
            return self.oauth.authorize(request)
        if path == "/oauth2/token" and method == "POST":
            return JSONResponse(self.oauth.token(await _json(request)))
        if path == "/oauth2/revoke" and method == "POST":
            return JSONResponse(self.oauth.revoke(request, await _json(request)))
        if path == "/oauth2/token/status" and method == "POST":
            token = self.oauth.authenticate(request)
            return JSONResponse(
                {
                    "client_id": self.app.client_id,
                    "merchant_id": token.merchant_id,
                    "expires_at": time.strftime(
                        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(token.expires_at)
                    ),
                    "scopes": sorted(token.scopes),
                }
            )
        handler, params, allowed = self.table.match(method, path)
        if handler is None:
            detail = f"API endpoint for URL path `{path}` and HTTP method `{method}` is not found."
            if allowed:
                raise SquareError(405, "METHOD_NOT_ALLOWED", detail)
            raise not_found(detail)
        token = self.oauth.authenticate(request)
        if self.required[handler.__name__] not in token.scopes:
            raise SquareError(
                403,
                "INSUFFICIENT_SCOPES",
                "The merchant has not given your application sufficient permissions to do that."
                " The app should ask the merchant for additional permissions.",
                category="AUTHENTICATION_ERROR",
            )
        self._check_version(request)
        self._throttle(token.token)
        body = await _json(request) if method in {"POST", "PUT"} else {}
        call = Call(request, self.sellers[token.merchant_id], params, body)
        result: dict[str, Any] = await handler(call)
        return JSONResponse(result)

    def _check_version(self, request: Request) -> None:
        version = request.headers.get("square-version")
        if version is None:
            return
        if not VERSION_FORMAT.match(version):
            raise bad_request(
                "INVALID_SQUARE_VERSION_FORMAT",
                f"Invalid Square-Version format: {version}. It must be YYYY-MM-DD.",
            )
        self.versions_seen.add(version)

    def _throttle(self, token: str) -> None:
        now = time.monotonic()
        window = self.windows[token]
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= self.per_second:
            raise rate_limited()
        window.append(now)

    def _idempotent(self, call: Call, work: Any) -> dict[str, Any]:
        """Same key and body: the first answer; same key, other body: ``IDEMPOTENCY_KEY_REUSED``."""
        return self._idempotent_once(call, work)[0]

    def _idempotent_once(self, call: Call, work: Any) -> tuple[dict[str, Any], bool]:
        """The answer and whether this call did the work (a replay did not: it announces
        nothing, as Square sends no second webhook for a replayed key)."""
        key = call.body.get("idempotency_key")
        if not key:
            result: dict[str, Any] = work()
            return result, True
        slot = f"{call.request.url.path}:{key}"
        fingerprint = json.dumps(call.body, sort_keys=True)
        stored = call.seller.idempotent.get(slot)
        if stored is not None:
            if stored[0] != fingerprint:
                raise bad_request(
                    "IDEMPOTENCY_KEY_REUSED",
                    "The idempotency key can only be retried with the same request data.",
                    "idempotency_key",
                )
            replay: dict[str, Any] = stored[1]
            return replay, False
        result = work()
        call.seller.idempotent[slot] = (fingerprint, result)
        return result, True

    # -- merchants and locations

    async def merchant(self, call: Call) -> dict[str, Any]:
        wanted = call.params["merchant_id"]
        if wanted not in {"me", call.seller.merchant_id}:
            raise not_found(f"Merchant `{wanted}` not found.")
        return {"merchant": call.seller.merchant()}

    async def merchants(self, call: Call) -> dict[str, Any]:
        return {"merchant": [call.seller.merchant()]}

    async def locations(self, call: Call) -> dict[str, Any]:
        return {"locations": [call.seller.location()]}

    async def location(self, call: Call) -> dict[str, Any]:
        if call.params["location_id"] not in {"main", call.seller.location_id}:
            raise not_found(f"Location `{call.params['location_id']}` not found.")
        return {"location": call.seller.location()}

    # -- catalog

    async def catalog_upsert(self, call: Call) -> dict[str, Any]:
        result, fresh = self._idempotent_once(
            call, lambda: Catalog(call.seller).batch_upsert(call.body)
        )
        if fresh and result.get("objects"):
            self._event(
                call.seller,
                "catalog.version.updated",
                "catalog_version",
                "",
                {"catalog_version": {"updated_at": result["updated_at"]}},
            )
        return result

    async def catalog_list(self, call: Call) -> dict[str, Any]:
        query = call.request.query_params
        return Catalog(call.seller).list(query.get("types"), query.get("cursor"))

    async def catalog_search(self, call: Call) -> dict[str, Any]:
        return Catalog(call.seller).search(call.body)

    async def catalog_retrieve(self, call: Call) -> dict[str, Any]:
        return Catalog(call.seller).batch_retrieve(call.body)

    async def catalog_object(self, call: Call) -> dict[str, Any]:
        found = call.seller.catalog.get(call.params["object_id"])
        if found is None:
            raise not_found(f"Object `{call.params['object_id']}` not found.", "object_id")
        return {"object": found}

    # -- customers

    async def customer_create(self, call: Call) -> dict[str, Any]:
        created, fresh = self._idempotent_once(
            call, lambda: Customers(call.seller).create(call.body)
        )
        if fresh:
            customer_id = created["customer"]["id"]
            self._event(call.seller, "customer.created", "customer", customer_id, created)
        return created

    async def customer_list(self, call: Call) -> dict[str, Any]:
        query = call.request.query_params
        limit = int(query["limit"]) if query.get("limit") else None
        return Customers(call.seller).list(query.get("cursor"), limit)

    async def customer_search(self, call: Call) -> dict[str, Any]:
        return Customers(call.seller).search(call.body)

    async def customer_get(self, call: Call) -> dict[str, Any]:
        return {"customer": Customers(call.seller).get(call.params["customer_id"])}

    async def customer_update(self, call: Call) -> dict[str, Any]:
        updated = Customers(call.seller).update(call.params["customer_id"], call.body)
        self._event(call.seller, "customer.updated", "customer", updated["customer"]["id"], updated)
        return updated

    async def customer_bulk_create(self, call: Call) -> dict[str, Any]:
        answer, created = Customers(call.seller).bulk_create(call.body, call.seller.idempotent)
        for customer in created:
            self._event(
                call.seller, "customer.created", "customer", customer["id"], {"customer": customer}
            )
        return answer

    async def customer_bulk_update(self, call: Call) -> dict[str, Any]:
        answer, updated = Customers(call.seller).bulk_update(call.body)
        for customer in updated:
            self._event(
                call.seller, "customer.updated", "customer", customer["id"], {"customer": customer}
            )
        return answer

    # -- orders, payments, inventory

    async def order_create(self, call: Call) -> dict[str, Any]:
        return self._idempotent(call, lambda: Sales(call.seller).create_order(call.body))

    async def order_search(self, call: Call) -> dict[str, Any]:
        return Sales(call.seller).search_orders(call.body)

    async def payment_create(self, call: Call) -> dict[str, Any]:
        created, fresh = self._idempotent_once(
            call, lambda: Sales(call.seller).create_payment(call.body)
        )
        if fresh:
            payment_id = created["payment"]["id"]
            self._event(call.seller, "payment.created", "payment", payment_id, created)
        return created

    async def payment_list(self, call: Call) -> dict[str, Any]:
        return Sales(call.seller).list_payments(dict(call.request.query_params))

    async def payment_get(self, call: Call) -> dict[str, Any]:
        return Sales(call.seller).get_payment(call.params["payment_id"])

    async def inventory_change(self, call: Call) -> dict[str, Any]:
        result, fresh = self._idempotent_once(
            call, lambda: Sales(call.seller).batch_change(call.body)
        )
        if fresh and result.get("counts"):
            self._event(
                call.seller,
                "inventory.count.updated",
                "inventory",
                "",
                {"inventory_counts": result["counts"]},
            )
        return result

    async def inventory_counts(self, call: Call) -> dict[str, Any]:
        return Sales(call.seller).retrieve_counts(call.body)

    # -- webhooks and sandbox controls

    def _event(
        self, seller: Seller, kind: str, data_type: str, object_id: str, obj: dict[str, Any]
    ) -> None:
        if not self.hooks.url:
            return
        body = webhooks.event_body(seller.merchant_id, kind, data_type, object_id, obj)
        signature = webhooks.sign(self.signature_key, self.hooks.url, body)
        self.hooks.send(body, {webhooks.SIGNATURE_HEADER: signature})

    async def _control(self, request: Request, path: str) -> Response:
        if not has_key(request, self.secret_key):
            return invalid_key_response()
        if path == "/_sandbox/webhooks" and request.method == "GET":
            await self.hooks.drain()
            return JSONResponse({"deliveries": [d.as_dict() for d in self.hooks.sent]})
        data = await _json(request) if request.method == "POST" else {}
        if path == "/_sandbox/webhooks":
            self.hooks.url = data.get("url") or None
        elif path == "/_sandbox/app":
            self.app.redirect_uris = list(data.get("redirect_uris", self.app.redirect_uris))
            self.app.deny_all = bool(data.get("deny_all", self.app.deny_all))
            # The platform's configured credentials may be adopted instead of the derived ones.
            self.app.client_id = str(data.get("client_id", self.app.client_id))
            self.app.client_secret = str(data.get("client_secret", self.app.client_secret))
            self.signature_key = str(data.get("signature_key", self.signature_key))
        elif path == "/_sandbox/rate-limit":
            self.per_second = int(data.get("per_second", self.per_second))
        elif path == "/_sandbox/expire":
            token = self.oauth.tokens.get(str(data.get("access_token")))
            if token is None:
                raise not_found("access token not found.")
            token.expires_at = time.time() - 1
        elif path == "/_sandbox/reset":
            self.reset()
        else:
            raise not_found(f"No sandbox control at `{path}`.")
        return JSONResponse({"ok": True, "token_requests": self.oauth.token_requests})


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as error:
        raise bad_request("INVALID_CONTENT_TYPE", "The request body is not valid JSON.") from error
    if not isinstance(data, dict):
        raise bad_request("BAD_REQUEST", "The request body must be a JSON object.")
    return data
