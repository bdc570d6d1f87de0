"""The Stripe emulator's request pipeline and route table (the resources live in ``stripe/``).

Every ``/v1`` request goes through the same steps Stripe applies: the secret key (Bearer or
Basic; the sandbox's own key is the platform account, a Connect access token its connected
account, ``Stripe-Account`` lets the platform act for one), injected faults, the per-key rate
limit (429 ``rate_limit`` with ``Stripe-Should-Retry``), Stripe's bracketed form/query parameters,
``Idempotency-Key`` replay scoped per key (``Idempotent-Replayed: true``; the same key with other
parameters is an ``idempotency_error``), ``expand[]``, and Stripe's JSON error object for every
failure, unknown routes included. Responses carry ``Request-Id`` and ``Stripe-Version``.

``GET /_sandbox/payments/stats`` tells tests how many charges were recorded and whether any order
was charged twice; ``POST /_sandbox/payments/faults`` (the sandbox's own key) injects failures.
"""

from __future__ import annotations

import base64
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tickettoken.sandbox.common import (
    FaultPlan,
    StoredResponse,
    fingerprint,
    has_key,
    invalid_key_response,
    json_response,
)
from tickettoken.sandbox.stripe.catalog import Catalog
from tickettoken.sandbox.stripe.connect import Connect
from tickettoken.sandbox.stripe.errors import (
    StripeError,
    rate_limited,
    unauthenticated,
    unrecognized_url,
)
from tickettoken.sandbox.stripe.forms import parse_params
from tickettoken.sandbox.stripe.listing import expand
from tickettoken.sandbox.stripe.money import Money
from tickettoken.sandbox.stripe.money_out import MoneyOut
from tickettoken.sandbox.stripe.ratelimit import DEFAULT_BURST, TEST_MODE_RATE
from tickettoken.sandbox.stripe.state import Call, Obj, StripeState
from tickettoken.sandbox.stripe.webhooks import API_VERSION, Webhooks

Action = Callable[[Call], Awaitable[Obj]]
PaymentsState = StripeState  # the name the queue's tests know the state by
ALL_METHODS = ["GET", "POST", "DELETE", "PUT", "PATCH"]


def _given_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value).decode().split(":", 1)[0] or None
        except (ValueError, UnicodeDecodeError):
            return None
    return None


class PaymentsAPI:
    """Stripe: payments, catalog, customers, accounts, Connect OAuth, webhook endpoints."""

    name = "stripe"

    def __init__(
        self,
        secret_key: str,
        *,
        rate: float = TEST_MODE_RATE,
        burst: float = DEFAULT_BURST,
        redirect_uris: list[str] | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
    ) -> None:
        self.secret_key = secret_key
        self.state = StripeState()
        self.state.limiter.rate, self.state.limiter.burst = rate, burst
        self.webhooks = Webhooks(self.state)
        self.catalog = Catalog(self.state)
        self.money = Money(self.state, self.webhooks)
        self.money_out = MoneyOut(self.state, self.webhooks)
        self.connect = Connect(self.state, secret_key, redirect_uris)
        self.configured = (
            self.webhooks.configure(webhook_url, webhook_secret, secret_key)
            if webhook_url
            else None
        )

    def reset(self) -> None:
        """Forget every object, key and idempotent answer; keep the platform account, the
        configured webhook endpoint and the limits (in place: the routes hold these objects)."""
        old = self.state
        fresh = StripeState(platform_account=old.platform_account)
        fresh.limiter.rate, fresh.limiter.burst = old.limiter.rate, old.limiter.burst
        for name in StripeState.__dataclass_fields__:
            setattr(old, name, getattr(fresh, name))
        self.connect.reset()
        if self.configured is not None:
            old.add("we", self.configured, old.platform_account)

    def describe(self, base_url: str) -> dict[str, Any]:
        return {
            "api_base_url": base_url,
            "oauth_base_url": base_url,
            "oauth_authorize_url": f"{base_url}/oauth/authorize",
            "oauth_token_url": f"{base_url}/oauth/token",
            "connect_client_id": self.connect.client_id,
            "platform_account": self.state.platform_account,
            "rate_limit_per_second": self.state.limiter.rate,
            "webhook_signing_secrets": self.webhooks.secrets_in_use(),
            "auth": "Authorization: Bearer <SANDBOX_SECRET_KEY> (or a Connect access token)",
        }

    def routes(self) -> list[BaseRoute]:
        m, o, c = self.money, self.money_out, self.catalog
        w, a = self.webhooks, self.connect
        table: list[tuple[str, str, Action]] = [
            ("POST", "/v1/payment_intents", m.create_intent),
            ("GET", "/v1/payment_intents", m.list_intents),
            ("GET", "/v1/payment_intents/search", m.search_intents),
            ("GET", "/v1/payment_intents/{id}", m.get_intent),
            ("POST", "/v1/payment_intents/{id}", m.update_intent),
            ("POST", "/v1/payment_intents/{id}/confirm", m.confirm_intent),
            ("POST", "/v1/payment_intents/{id}/capture", m.capture_intent),
            ("POST", "/v1/payment_intents/{id}/cancel", m.cancel_intent),
            ("GET", "/v1/charges", m.list_charges),
            ("GET", "/v1/charges/{id}", m.get_charge),
            ("POST", "/v1/refunds", o.create_refund),
            ("GET", "/v1/refunds", o.list_refunds),
            ("GET", "/v1/refunds/{id}", o.get_refund),
            ("POST", "/v1/payouts", o.create_payout),
            ("GET", "/v1/payouts", o.list_payouts),
            ("GET", "/v1/payouts/{id}", o.get_payout),
            ("POST", "/v1/products", c.create_product),
            ("GET", "/v1/products", c.list_products),
            ("GET", "/v1/products/search", c.search_products),
            ("GET", "/v1/products/{id}", c.get_product),
            ("POST", "/v1/products/{id}", c.update_product),
            ("POST", "/v1/prices", c.create_price),
            ("GET", "/v1/prices", c.list_prices),
            ("GET", "/v1/prices/search", c.search_prices),
            ("GET", "/v1/prices/{id}", c.get_price),
            ("POST", "/v1/prices/{id}", c.update_price),
            ("POST", "/v1/customers", c.create_customer),
            ("GET", "/v1/customers", c.list_customers),
            ("GET", "/v1/customers/search", c.search_customers),
            ("GET", "/v1/customers/{id}", c.get_customer),
            ("POST", "/v1/customers/{id}", c.update_customer),
            ("DELETE", "/v1/customers/{id}", c.delete_customer),
            ("GET", "/v1/account", a.get_own_account),
            ("GET", "/v1/accounts/{id}", a.get_account),
            ("POST", "/v1/webhook_endpoints", w.create_endpoint),
            ("GET", "/v1/webhook_endpoints", w.list_endpoints),
            ("GET", "/v1/webhook_endpoints/{id}", w.get_endpoint),
            ("DELETE", "/v1/webhook_endpoints/{id}", w.delete_endpoint),
            ("GET", "/v1/events", w.list_events),
            ("GET", "/v1/events/{id}", w.get_event),
        ]
        routes: list[BaseRoute] = [
            Route(path, self.endpoint(action), methods=[method]) for method, path, action in table
        ]
        return [
            *routes,
            Route("/oauth/authorize", a.authorize, methods=["GET"]),
            Route("/oauth/token", a.token, methods=["POST"]),
            Route("/oauth/deauthorize", a.deauthorize, methods=["POST"]),
            Route("/_sandbox/payments/stats", self.stats, methods=["GET"]),
            Route("/_sandbox/payments/faults", self.set_faults, methods=["POST"]),
            Route("/v1/{rest:path}", self.endpoint(self.unknown), methods=ALL_METHODS),
            Route("/v1", self.endpoint(self.unknown), methods=ALL_METHODS),
        ]

    async def unknown(self, call: Call) -> Obj:
        raise unrecognized_url(call.request.method, call.request.url.path)

    def endpoint(self, action: Action) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            try:
                return await self.dispatch(request, action)
            except StripeError as exc:
                return self._error(exc)
            except Exception as exc:  # a sandbox bug still answers in Stripe's shape
                return self._error(
                    StripeError(500, "api_error", f"Sandbox error: {type(exc).__name__}: {exc}")
                )

        return handle

    @staticmethod
    def _headers(request: Request, **extra: str) -> dict[str, str]:
        return {
            "Request-Id": f"req_{secrets.token_urlsafe(10)}",
            "Stripe-Version": request.headers.get("stripe-version", API_VERSION),
            **extra,
        }

    def _error(self, exc: StripeError, request: Request | None = None) -> Response:
        headers = {"Request-Id": f"req_{secrets.token_urlsafe(10)}", **exc.headers}
        return json_response(exc.body(), exc.status, **headers)

    def _account(self, request: Request) -> tuple[str, str]:
        key = _given_key(request)
        if key and secrets.compare_digest(key.encode(), self.secret_key.encode()):
            account = self.state.platform_account
        elif key and key in self.state.access_tokens:
            account = self.state.access_tokens[key]
        else:
            raise unauthenticated(key)
        acting = request.headers.get("stripe-account")
        if acting and acting != account:
            if account != self.state.platform_account or acting not in self.state.accounts:
                raise StripeError(
                    403,
                    "invalid_request_error",
                    f"The provided key '{key[:8]}****{key[-4:]}' does not have access to account"
                    f" '{acting}' (or that account does not exist). Application access may have"
                    " been revoked.",
                    "account_invalid",
                )
            account = acting
        return key, account

    async def dispatch(self, request: Request, action: Action) -> Response:
        state = self.state
        state.log.record()
        key, account = self._account(request)
        if state.faults.take(request.url.path):
            status = state.faults.status
            error = StripeError(
                status,
                "api_error" if status >= 500 else "invalid_request_error",
                "Injected failure",
                "rate_limit" if status == 429 else None,
            )
            return json_response(
                error.body(),
                status,
                **{"Stripe-Should-Retry": "true", "Retry-After": str(state.faults.retry_after)},
            )
        if not state.limiter.allow(key):
            raise rate_limited()
        body = await request.body()
        encoded = body.decode() if request.method == "POST" else request.url.query
        idem = request.headers.get("idempotency-key")
        if request.method != "POST" or not idem:
            status, answer = await self._call(request, action, encoded, key, account)
            return json_response(answer, status, **self._headers(request))
        scoped = f"{key}\0{idem}"
        print_ = fingerprint(request, body)
        async with state.idempotency.lock(scoped):
            stored = state.idempotency.responses.get(scoped)
            if stored is not None:
                if stored.fingerprint != print_:
                    raise StripeError(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same parameters"
                        " they were first used with. Try using a key other than"
                        f" '{idem}' if you meant to execute a different request.",
                    )
                state.replays += 1
                headers = self._headers(request, **{"Idempotent-Replayed": "true"})
                return json_response(stored.body, stored.status, **headers)
            status, answer = await self._call(request, action, encoded, key, account)
            # As on Stripe, a request refused before it ran (invalid parameters) saves nothing.
            refused = answer.get("error", {}).get("code", "").startswith("parameter_")
            if status < 500 and not refused:
                state.idempotency.responses[scoped] = StoredResponse(print_, status, answer)
            headers = self._headers(request, **{"Idempotency-Key": idem})
            return json_response(answer, status, **headers)

    async def _call(
        self, request: Request, action: Action, encoded: str, key: str, account: str
    ) -> tuple[int, dict[str, Any]]:
        try:
            params = parse_params(encoded)
            result = await action(Call(request, params, account, key))
            paths = params.get("expand")
            if paths:
                result = expand(result, paths, lambda i: self.state.lookup(i, account))
            return 200, result
        except StripeError as exc:
            return exc.status, exc.body()

    # ---- test hooks -----------------------------------------------------------------------

    async def stats(self, request: Request) -> Response:
        state = self.state
        per_order = Counter(
            c["metadata"].get("order_id")
            for c in state.charges.values()
            if c["metadata"].get("order_id") and c["status"] == "succeeded"
        )
        return json_response(
            {
                "payment_intents": len(state.intents),
                "charges": sum(c["status"] == "succeeded" for c in state.charges.values()),
                "refunds": len(state.refunds),
                "refunded_cents": sum(r["amount"] for r in state.refunds.values()),
                "payouts": len(state.payouts),
                "requests": len(state.log.times),
                "replays": state.replays,
                "max_requests_per_second": state.log.max_in_window(1.0),
                "orders_charged": len(per_order),
                "orders_charged_twice": sorted(o for o, n in per_order.items() if n > 1),
                "orders_with_intents": sorted(
                    {
                        str(i["metadata"]["order_id"])
                        for i in state.intents.values()
                        if i.get("metadata", {}).get("order_id")
                    }
                ),
            }
        )

    async def set_faults(self, request: Request) -> Response:
        if not has_key(request, self.secret_key):
            return invalid_key_response()
        data = await request.json()
        self.state.faults = FaultPlan(
            status=int(data.get("status", 429)),
            count=int(data.get("count", 0)),
            path_prefix=str(data.get("path_prefix", "/v1/")),
            retry_after=float(data.get("retry_after", 1.0)),
        )
        return json_response({"ok": True})
