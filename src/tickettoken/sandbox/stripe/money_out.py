"""Money leaving a charge or the balance: refunds (create, retrieve, list) and payouts.

A refund names a charge or a payment intent (its latest successful charge), never refunds more
than is left, takes only Stripe's three reasons, and emits ``refund.created`` and
``charge.refunded``; a payout is ``paid`` at once and emits ``payout.paid``.
"""

from __future__ import annotations

from tickettoken.sandbox.stripe.errors import invalid
from tickettoken.sandbox.stripe.listing import list_page
from tickettoken.sandbox.stripe.money import amount_param, currency_param
from tickettoken.sandbox.stripe.state import Call, Obj, StripeState, new_id, now
from tickettoken.sandbox.stripe.webhooks import Webhooks

REFUND_REASONS = {"duplicate", "fraudulent", "requested_by_customer"}


class MoneyOut:
    def __init__(self, state: StripeState, webhooks: Webhooks) -> None:
        self.state, self.webhooks = state, webhooks

    # ---- refunds ----------------------------------------------------------------------

    async def create_refund(self, call: Call) -> Obj:
        call.known(
            "charge",
            "payment_intent",
            "amount",
            "reason",
            "metadata",
            "refund_application_fee",
            "reverse_transfer",
            "instructions_email",
        )
        p = call.params
        if p.get("reason") and p["reason"] not in REFUND_REASONS:
            raise invalid(
                "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
                None,
                "reason",
            )
        charge_id = p.get("charge")
        if not charge_id and p.get("payment_intent"):
            intent = self.state.get("pi", str(p["payment_intent"]), call.account, "payment_intent")
            charge_id = intent.get("latest_charge")
            if not charge_id or self.state.charges[charge_id]["status"] != "succeeded":
                raise invalid(
                    f"This PaymentIntent ({intent['id']}) does not have a successful charge to"
                    " refund.",
                    "charge_not_refundable",
                    "payment_intent",
                )
        if not charge_id:
            raise invalid(
                "One of the following params should be provided for this request:"
                " payment_intent or charge.",
                "parameter_missing",
            )
        charge = self.state.get("ch", str(charge_id), call.account, "charge")
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining <= 0:
            raise invalid(
                f"Charge {charge['id']} has already been refunded.", "charge_already_refunded"
            )
        amount = amount_param(p, required=False) or remaining
        if amount > remaining:
            raise invalid(
                f"Refund amount (${amount / 100:.2f}) is greater than unrefunded amount on charge"
                f" (${remaining / 100:.2f})",
                "amount_too_large",
                "amount",
            )
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        refund: Obj = {
            "id": new_id("re"),
            "object": "refund",
            "amount": amount,
            "charge": charge["id"],
            "created": now(),
            "currency": charge["currency"],
            "metadata": p.get("metadata") or {},
            "payment_intent": charge["payment_intent"],
            "reason": p.get("reason"),
            "status": "succeeded",
        }
        self.state.add("re", refund, call.account)
        self.webhooks.emit("refund.created", refund, call.account)
        self.webhooks.emit("charge.refunded", charge, call.account)
        return refund

    async def get_refund(self, call: Call) -> Obj:
        return self.state.get("re", call.path("id"), call.account)

    async def list_refunds(self, call: Call) -> Obj:
        items = self.state.owned("re", call.account)
        for name in ("charge", "payment_intent"):
            if call.params.get(name):
                items = [r for r in items if r.get(name) == call.params[name]]
        return list_page(items, call.params, "/v1/refunds", "refund")

    # ---- payouts ----------------------------------------------------------------------

    async def create_payout(self, call: Call) -> Obj:
        call.known(
            "amount",
            "currency",
            "destination",
            "metadata",
            "description",
            "method",
            "statement_descriptor",
            "source_type",
        )
        payout: Obj = {
            "id": new_id("po"),
            "object": "payout",
            "amount": amount_param(call.params),
            "arrival_date": now(),
            "created": now(),
            "currency": currency_param(call.params),
            "description": call.params.get("description"),
            "destination": call.params.get("destination"),
            "livemode": False,
            "metadata": call.params.get("metadata") or {},
            "method": call.params.get("method", "standard"),
            "status": "paid",
        }
        self.state.add("po", payout, call.account)
        self.webhooks.emit("payout.paid", payout, call.account)
        return payout

    async def get_payout(self, call: Call) -> Obj:
        return self.state.get("po", call.path("id"), call.account)

    async def list_payouts(self, call: Call) -> Obj:
        return list_page(self.state.owned("po", call.account), call.params, "/v1/payouts", "payout")
