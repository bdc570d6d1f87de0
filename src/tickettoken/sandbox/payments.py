"""A Stripe-compatible payments API: PaymentIntents with charges, (partial) refunds, payouts.

Form-encoded requests with bracket notation (``metadata[order_id]=...``), bearer secret keys,
``Idempotency-Key`` replay (``Idempotent-Replayed: true``), Stripe's error shapes, and injected
429s carrying ``Stripe-Should-Retry``. ``GET /_sandbox/payments/stats`` tells tests how many
charges were recorded and whether any order was charged twice.

Only the sandbox's own secret key is accepted, for the API and for fault injection
(``POST /_sandbox/payments/faults``). As Stripe does, a PaymentIntent is never confirmed without a
payment method (400 ``invalid_request_error``, code ``payment_intent_unexpected_state``).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tickettoken.sandbox.common import (
    FaultPlan,
    IdempotencyStore,
    RequestLog,
    StoredResponse,
    fingerprint,
    has_key,
    invalid_key_response,
    json_response,
    new_id,
)

DECLINED_METHOD = "pm_card_chargeDeclined"


@dataclass
class PaymentsState:
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    payouts: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotency: IdempotencyStore = field(default_factory=IdempotencyStore)
    faults: FaultPlan = field(default_factory=FaultPlan)
    log: RequestLog = field(default_factory=RequestLog)
    replays: int = 0


class StripeError(Exception):
    def __init__(self, status: int, kind: str, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.code = status, kind, message, code

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.kind, "message": self.message}
        if self.code:
            error["code"] = self.code
        return {"error": error}


def parse_form(body: bytes) -> dict[str, Any]:
    """Stripe's form encoding: ``a=1&metadata[k]=v`` -> ``{"a": "1", "metadata": {"k": "v"}}``."""
    data: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        if "[" in key and key.endswith("]"):
            outer, inner = key[:-1].split("[", 1)
            data.setdefault(outer, {})[inner] = value
        else:
            data[key] = value
    return data


def _amount(data: dict[str, Any], required: bool = True) -> int | None:
    raw = data.get("amount")
    if raw is None:
        if required:
            raise StripeError(400, "invalid_request_error", "Missing required param: amount.")
        return None
    try:
        value = int(raw)
    except ValueError:
        raise StripeError(400, "invalid_request_error", "Invalid integer: amount") from None
    if value <= 0:
        raise StripeError(400, "invalid_request_error", "Amount must be positive.")
    return value


def _now() -> int:
    return int(time.time())


class PaymentsAPI:
    def __init__(self, secret_key: str) -> None:
        self.secret_key = secret_key
        self.state = PaymentsState()

    def routes(self) -> list[Route]:
        return [
            Route("/v1/payment_intents", self.endpoint(self.create_intent), methods=["POST"]),
            Route(
                "/v1/payment_intents/{id}/confirm",
                self.endpoint(self.confirm_intent),
                methods=["POST"],
            ),
            Route("/v1/payment_intents/{id}", self.endpoint(self.get_intent), methods=["GET"]),
            Route("/v1/charges/{id}", self.endpoint(self.get_charge), methods=["GET"]),
            Route("/v1/refunds", self.endpoint(self.create_refund), methods=["POST"]),
            Route("/v1/payouts", self.endpoint(self.create_payout), methods=["POST"]),
            Route("/_sandbox/payments/stats", self.stats, methods=["GET"]),
            Route("/_sandbox/payments/faults", self.set_faults, methods=["POST"]),
        ]

    def endpoint(self, action: Any) -> Any:
        async def handle(request: Request) -> Response:
            return await self.dispatch(request, action)

        return handle

    async def dispatch(self, request: Request, action: Any) -> Response:
        state = self.state
        state.log.record()
        if not has_key(request, self.secret_key):
            return invalid_key_response()
        if state.faults.take(request.url.path):
            status = state.faults.status
            return json_response(
                StripeError(
                    status,
                    "api_error" if status >= 500 else "rate_limit_error",
                    "Injected failure",
                    "rate_limit" if status == 429 else None,
                ).body(),
                status,
                **{"Stripe-Should-Retry": "true", "Retry-After": str(state.faults.retry_after)},
            )
        body = await request.body()
        key = request.headers.get("idempotency-key")
        if request.method != "POST" or not key:
            return await self._run(request, action, body)
        print_ = fingerprint(request, body)
        async with state.idempotency.lock(key):
            stored = state.idempotency.responses.get(key)
            if stored is not None:
                if stored.fingerprint != print_:
                    return json_response(
                        StripeError(
                            400,
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same"
                            " parameters they were first used with.",
                        ).body(),
                        400,
                    )
                state.replays += 1
                return json_response(stored.body, stored.status, **{"Idempotent-Replayed": "true"})
            response_body, status = await self._call(request, action, body)
            if status < 500:
                state.idempotency.responses[key] = StoredResponse(print_, status, response_body)
            return json_response(response_body, status, **{"Idempotency-Key": key})

    async def _run(self, request: Request, action: Any, body: bytes) -> Response:
        response_body, status = await self._call(request, action, body)
        return json_response(response_body, status)

    async def _call(self, request: Request, action: Any, body: bytes) -> tuple[dict[str, Any], int]:
        try:
            result: dict[str, Any] = await action(request, parse_form(body))
            return result, 200
        except StripeError as exc:
            return exc.body(), exc.status

    # ---- resources ------------------------------------------------------------------------

    def _charge(self, intent: dict[str, Any]) -> None:
        if not intent.get("payment_method"):
            intent["status"] = "requires_payment_method"
            raise StripeError(
                400,
                "invalid_request_error",
                "You cannot confirm this PaymentIntent because it's missing a payment method."
                " To confirm the PaymentIntent with a payment method, pass `payment_method`.",
                "payment_intent_unexpected_state",
            )
        if intent.get("payment_method") == DECLINED_METHOD:
            intent["status"] = "requires_payment_method"
            raise StripeError(402, "card_error", "Your card was declined.", "card_declined")
        charge = {
            "id": new_id("ch"),
            "object": "charge",
            "amount": intent["amount"],
            "amount_refunded": 0,
            "currency": intent["currency"],
            "customer": intent.get("customer"),
            "payment_intent": intent["id"],
            "metadata": intent["metadata"],
            "paid": True,
            "refunded": False,
            "status": "succeeded",
            "created": _now(),
        }
        self.state.charges[charge["id"]] = charge
        intent["status"] = "succeeded"
        intent["latest_charge"] = charge["id"]
        intent["amount_received"] = intent["amount"]

    async def create_intent(self, request: Request, data: dict[str, Any]) -> dict[str, Any]:
        amount = _amount(data)
        currency = str(data.get("currency", "")).lower()
        if len(currency) != 3:
            raise StripeError(400, "invalid_request_error", "Missing required param: currency.")
        intent: dict[str, Any] = {
            "id": new_id("pi"),
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "currency": currency,
            "customer": data.get("customer"),
            "payment_method": data.get("payment_method"),
            "metadata": data.get("metadata", {}),
            "status": "requires_confirmation",
            "latest_charge": None,
            "created": _now(),
        }
        self.state.intents[intent["id"]] = intent
        if str(data.get("confirm", "")).lower() == "true":
            self._charge(intent)
        return intent

    def _intent(self, intent_id: str) -> dict[str, Any]:
        intent = self.state.intents.get(intent_id)
        if intent is None:
            raise StripeError(
                404,
                "invalid_request_error",
                f"No such payment_intent: '{intent_id}'",
                "resource_missing",
            )
        return intent

    async def confirm_intent(self, request: Request, data: dict[str, Any]) -> dict[str, Any]:
        intent = self._intent(request.path_params["id"])
        if intent["status"] == "succeeded":
            raise StripeError(
                400,
                "invalid_request_error",
                "This PaymentIntent has already succeeded.",
                "payment_intent_unexpected_state",
            )
        if data.get("payment_method"):
            intent["payment_method"] = data["payment_method"]
        self._charge(intent)
        return intent

    async def get_intent(self, request: Request, data: dict[str, Any]) -> dict[str, Any]:
        return self._intent(request.path_params["id"])

    async def get_charge(self, request: Request, data: dict[str, Any]) -> dict[str, Any]:
        charge = self.state.charges.get(request.path_params["id"])
        if charge is None:
            raise StripeError(404, "invalid_request_error", "No such charge", "resource_missing")
        return charge

    async def create_refund(self, request: Request, data: dict[str, Any]) -> dict[str, Any]:
        charge_id = data.get("charge")
        if not charge_id and data.get("payment_intent"):
            charge_id = self._intent(data["payment_intent"]).get("latest_charge")
        charge = self.state.charges.get(str(charge_id)) if charge_id else None
        if charge is None:
            raise StripeError(
                400,
                "invalid_request_error",
                "No such charge or payment_intent to refund.",
                "resource_missing",
            )
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining <= 0:
            raise StripeError(
                400,
                "invalid_request_error",
                "Charge has already been refunded.",
                "charge_already_refunded",
            )
        amount = _amount(data, required=False) or remaining
        if amount > remaining:
            raise StripeError(
                400,
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge"
                f" ({remaining})",
                "amount_too_large",
            )
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        refund = {
            "id": new_id("re"),
            "object": "refund",
            "amount": amount,
            "charge": charge["id"],
            "payment_intent": charge["payment_intent"],
            "currency": charge["currency"],
            "metadata": data.get("metadata", {}),
            "reason": data.get("reason"),
            "status": "succeeded",
            "created": _now(),
        }
        self.state.refunds[refund["id"]] = refund
        return refund

    async def create_payout(self, request: Request, data: dict[str, Any]) -> dict[str, Any]:
        amount = _amount(data)
        currency = str(data.get("currency", "")).lower()
        if len(currency) != 3:
            raise StripeError(400, "invalid_request_error", "Missing required param: currency.")
        payout = {
            "id": new_id("po"),
            "object": "payout",
            "amount": amount,
            "currency": currency,
            "destination": data.get("destination"),
            "metadata": data.get("metadata", {}),
            "status": "paid",
            "arrival_date": _now(),
            "created": _now(),
        }
        self.state.payouts[payout["id"]] = payout
        return payout

    # ---- test hooks -----------------------------------------------------------------------

    async def stats(self, request: Request) -> Response:
        state = self.state
        per_order = Counter(
            c["metadata"].get("order_id")
            for c in state.charges.values()
            if c["metadata"].get("order_id")
        )
        return json_response(
            {
                "payment_intents": len(state.intents),
                "charges": len(state.charges),
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
