"""Payment intents (create, confirm, capture, cancel, list, search), charges, refunds, payouts.

As on Stripe: an intent without a payment method is ``requires_payment_method`` and cannot be
confirmed; ``capture_method=manual`` stops at ``requires_capture`` until captured (a partial
capture refunds the rest); the test payment methods ``pm_card_chargeDeclined*`` decline with a
402 ``card_error`` carrying ``decline_code`` and the intent. Each state change emits the event
Stripe emits (``charge.succeeded``, ``payment_intent.succeeded``, ``charge.refunded``,
...). Refunds and payouts: ``money_out.py``.
"""

from __future__ import annotations

from typing import Any

from tickettoken.sandbox.stripe.errors import StripeError, invalid, missing_param
from tickettoken.sandbox.stripe.forms import as_bool, as_int
from tickettoken.sandbox.stripe.listing import list_page, search_page
from tickettoken.sandbox.stripe.state import Call, Obj, StripeState, new_id, now
from tickettoken.sandbox.stripe.webhooks import Webhooks

DECLINES = {
    "pm_card_chargeDeclined": "generic_decline",
    "pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
    "pm_card_chargeDeclinedFraudulent": "fraudulent",
}
CANCELABLE = [
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
]
INTENT_FIELDS = {
    "amount",
    "currency",
    "customer",
    "payment_method",
    "payment_method_types",
    "confirm",
    "capture_method",
    "metadata",
    "description",
    "receipt_email",
    "statement_descriptor",
    "statement_descriptor_suffix",
    "automatic_payment_methods",
    "setup_future_usage",
    "transfer_data",
    "application_fee_amount",
    "on_behalf_of",
    "return_url",
    "off_session",
    "transfer_group",
    "confirmation_method",
    "payment_method_options",
    "shipping",
}


def amount_param(params: dict[str, Any], name: str = "amount", required: bool = True) -> int | None:
    value = as_int(params, name)
    if value is None:
        if required:
            raise missing_param(name)
        return None
    if value < 1:
        raise invalid(
            "This value must be greater than or equal to 1.", "parameter_invalid_integer", name
        )
    return value


def currency_param(params: dict[str, Any]) -> str:
    currency = str(params.get("currency") or "").lower()
    if not currency:
        raise missing_param("currency")
    if len(currency) != 3:
        raise invalid(f"Invalid currency: {currency}.", "parameter_invalid_string", "currency")
    return currency


def _unexpected_state(intent: Obj, action: str, allowed: list[str]) -> StripeError:
    return StripeError(
        400,
        "invalid_request_error",
        f"This PaymentIntent could not be {action} because it has a status of"
        f" {intent['status']}. Only a PaymentIntent with one of the following statuses may be"
        f" {action}: {', '.join(allowed)}.",
        "payment_intent_unexpected_state",
        payment_intent=dict(intent),
    )


class Money:
    def __init__(self, state: StripeState, webhooks: Webhooks) -> None:
        self.state, self.webhooks = state, webhooks

    # ---- payment intents --------------------------------------------------------------

    async def create_intent(self, call: Call) -> Obj:
        call.known(*INTENT_FIELDS)
        p = call.params
        intent: Obj = {
            "id": new_id("pi"),
            "object": "payment_intent",
            "amount": amount_param(p),
            "amount_capturable": 0,
            "amount_received": 0,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": p.get("capture_method", "automatic"),
            "client_secret": None,
            "created": now(),
            "currency": currency_param(p),
            "customer": p.get("customer"),
            "description": p.get("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": p.get("metadata") or {},
            "payment_method": p.get("payment_method"),
            "payment_method_types": p.get("payment_method_types") or ["card"],
            "receipt_email": p.get("receipt_email"),
            "status": "requires_confirmation"
            if p.get("payment_method")
            else "requires_payment_method",
        }
        intent["client_secret"] = f"{intent['id']}_secret_{new_id('x')[2:]}"
        if p.get("customer") and str(p["customer"]).startswith("cus_"):
            self.state.get("cus", str(p["customer"]), call.account, "customer")
        self.state.add("pi", intent, call.account)
        self.webhooks.emit("payment_intent.created", intent, call.account)
        if as_bool(p.get("confirm", "false")):
            self._confirm(intent, call.account)
        return intent

    def _confirm(self, intent: Obj, account: str) -> None:
        if not intent.get("payment_method"):
            intent["status"] = "requires_payment_method"
            raise StripeError(
                400,
                "invalid_request_error",
                "You cannot confirm this PaymentIntent because it's missing a payment method."
                " To confirm the PaymentIntent with a payment method, pass `payment_method`.",
                "payment_intent_unexpected_state",
                payment_intent=dict(intent),
            )
        manual = intent["capture_method"] == "manual"
        decline = DECLINES.get(str(intent["payment_method"]))
        charge: Obj = {
            "id": new_id("ch"),
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": 0 if manual or decline else intent["amount"],
            "amount_refunded": 0,
            "captured": not manual and not decline,
            "created": now(),
            "currency": intent["currency"],
            "customer": intent.get("customer"),
            "description": intent.get("description"),
            "failure_code": "card_declined" if decline else None,
            "failure_message": "Your card was declined." if decline else None,
            "livemode": False,
            "metadata": intent["metadata"],
            "paid": not decline,
            "payment_intent": intent["id"],
            "payment_method": intent["payment_method"],
            "refunded": False,
            "status": "failed" if decline else "succeeded",
        }
        self.state.add("ch", charge, account)
        intent["latest_charge"] = charge["id"]
        if decline:
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": decline,
                "message": "Your card was declined.",
                "charge": charge["id"],
            }
            self.webhooks.emit("charge.failed", charge, account)
            self.webhooks.emit("payment_intent.payment_failed", intent, account)
            raise StripeError(
                402,
                "card_error",
                "Your card was declined.",
                "card_declined",
                decline_code=decline,
                payment_intent=dict(intent),
            )
        if manual:
            intent["status"], intent["amount_capturable"] = "requires_capture", intent["amount"]
            self.webhooks.emit("charge.succeeded", charge, account)
            self.webhooks.emit("payment_intent.amount_capturable_updated", intent, account)
            return
        intent["status"], intent["amount_received"] = "succeeded", intent["amount"]
        self.webhooks.emit("charge.succeeded", charge, account)
        self.webhooks.emit("payment_intent.succeeded", intent, account)

    async def update_intent(self, call: Call) -> Obj:
        call.known(
            "amount",
            "currency",
            "customer",
            "description",
            "metadata",
            "payment_method",
            "receipt_email",
            "capture_method",
            "setup_future_usage",
            "shipping",
        )
        intent = self.state.get("pi", call.path("id"), call.account)
        allowed = ["requires_payment_method", "requires_confirmation", "requires_action"]
        if intent["status"] not in allowed:
            raise _unexpected_state(intent, "updated", allowed)
        p = call.params
        if "amount" in p:
            intent["amount"] = amount_param(p)
        if "currency" in p:
            intent["currency"] = currency_param(p)
        if "metadata" in p:
            merged = {**intent["metadata"], **(p["metadata"] or {})} if p["metadata"] else {}
            intent["metadata"] = {k: v for k, v in merged.items() if v != ""}
        for name in (
            "customer",
            "description",
            "payment_method",
            "receipt_email",
            "capture_method",
        ):
            if name in p:
                intent[name] = p[name] or None
        if intent["payment_method"] and intent["status"] == "requires_payment_method":
            intent["status"] = "requires_confirmation"
        return intent

    async def confirm_intent(self, call: Call) -> Obj:
        call.known("payment_method", "return_url", "off_session", "receipt_email")
        intent = self.state.get("pi", call.path("id"), call.account)
        allowed = ["requires_payment_method", "requires_confirmation", "requires_action"]
        if intent["status"] not in allowed:
            raise _unexpected_state(intent, "confirmed", allowed)
        if call.params.get("payment_method"):
            intent["payment_method"] = call.params["payment_method"]
        self._confirm(intent, call.account)
        return intent

    async def capture_intent(self, call: Call) -> Obj:
        call.known("amount_to_capture", "metadata", "statement_descriptor")
        intent = self.state.get("pi", call.path("id"), call.account)
        if intent["status"] != "requires_capture":
            raise _unexpected_state(intent, "captured", ["requires_capture"])
        amount = amount_param(call.params, "amount_to_capture", required=False) or intent["amount"]
        if amount > intent["amount_capturable"]:
            raise invalid(
                "The amount to capture must be less than or equal to the amount capturable.",
                "amount_too_large",
                "amount_to_capture",
            )
        charge = self.state.charges[intent["latest_charge"]]
        charge["captured"], charge["amount_captured"] = True, amount
        charge["amount_refunded"] = intent["amount"] - amount
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        self.webhooks.emit("charge.captured", charge, call.account)
        self.webhooks.emit("payment_intent.succeeded", intent, call.account)
        return intent

    async def cancel_intent(self, call: Call) -> Obj:
        call.known("cancellation_reason")
        intent = self.state.get("pi", call.path("id"), call.account)
        if intent["status"] not in CANCELABLE:
            raise _unexpected_state(intent, "canceled", CANCELABLE)
        intent.update(
            status="canceled",
            canceled_at=now(),
            cancellation_reason=call.params.get("cancellation_reason"),
            amount_capturable=0,
        )
        self.webhooks.emit("payment_intent.canceled", intent, call.account)
        return intent

    async def get_intent(self, call: Call) -> Obj:
        return self.state.get("pi", call.path("id"), call.account)

    async def list_intents(self, call: Call) -> Obj:
        items = self.state.owned("pi", call.account)
        if call.params.get("customer"):
            items = [i for i in items if i.get("customer") == call.params["customer"]]
        return list_page(items, call.params, "/v1/payment_intents", "payment_intent")

    async def search_intents(self, call: Call) -> Obj:
        fields = {"amount", "currency", "customer", "metadata", "status", "created"}
        items = self.state.owned("pi", call.account)
        return search_page(items, call.params, "/v1/payment_intents/search", fields)

    # ---- charges ----------------------------------------------------------------------

    async def get_charge(self, call: Call) -> Obj:
        return self.state.get("ch", call.path("id"), call.account)

    async def list_charges(self, call: Call) -> Obj:
        items = self.state.owned("ch", call.account)
        for name in ("customer", "payment_intent"):
            if call.params.get(name):
                items = [c for c in items if c.get(name) == call.params[name]]
        return list_page(items, call.params, "/v1/charges", "charge")
