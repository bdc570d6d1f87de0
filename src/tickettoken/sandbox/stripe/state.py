"""What the Stripe emulator remembers: objects by kind, which account owns each, keys, and the
request plumbing state (idempotency, rate limit, injected faults, the request log).

Objects belong to one account (the platform's, or a Connect account acting through its OAuth
access token or ``Stripe-Account``); another account asking for one gets ``resource_missing``,
as on Stripe.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from tickettoken.sandbox.common import FaultPlan, IdempotencyStore, RequestLog
from tickettoken.sandbox.stripe.errors import no_such
from tickettoken.sandbox.stripe.forms import check_known
from tickettoken.sandbox.stripe.ratelimit import KeyRateLimit

Obj = dict[str, Any]

KINDS = {
    "pi": "payment_intent",
    "ch": "charge",
    "re": "refund",
    "po": "payout",
    "cus": "customer",
    "prod": "product",
    "price": "price",
    "acct": "account",
    "evt": "event",
    "we": "webhook_endpoint",
}


def now() -> int:
    return int(time.time())


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(18).replace('-', 'A').replace('_', 'B')}"


@dataclass
class StripeState:
    platform_account: str = field(default_factory=lambda: new_id("acct"))
    intents: dict[str, Obj] = field(default_factory=dict)
    charges: dict[str, Obj] = field(default_factory=dict)
    refunds: dict[str, Obj] = field(default_factory=dict)
    payouts: dict[str, Obj] = field(default_factory=dict)
    customers: dict[str, Obj] = field(default_factory=dict)
    products: dict[str, Obj] = field(default_factory=dict)
    prices: dict[str, Obj] = field(default_factory=dict)
    accounts: dict[str, Obj] = field(default_factory=dict)
    events: dict[str, Obj] = field(default_factory=dict)
    webhook_endpoints: dict[str, Obj] = field(default_factory=dict)
    owner: dict[str, str] = field(default_factory=dict)
    access_tokens: dict[str, str] = field(default_factory=dict)
    idempotency: IdempotencyStore = field(default_factory=IdempotencyStore)
    faults: FaultPlan = field(default_factory=FaultPlan)
    log: RequestLog = field(default_factory=RequestLog)
    limiter: KeyRateLimit = field(default_factory=KeyRateLimit)
    replays: int = 0

    def table(self, prefix: str) -> dict[str, Obj]:
        return {
            "pi": self.intents,
            "ch": self.charges,
            "re": self.refunds,
            "po": self.payouts,
            "cus": self.customers,
            "prod": self.products,
            "price": self.prices,
            "acct": self.accounts,
            "evt": self.events,
            "we": self.webhook_endpoints,
        }[prefix]

    def add(self, prefix: str, obj: Obj, account: str) -> Obj:
        self.table(prefix)[obj["id"]] = obj
        self.owner[obj["id"]] = account
        return obj

    def get(self, prefix: str, object_id: str, account: str, param: str = "id") -> Obj:
        obj = self.table(prefix).get(object_id)
        if obj is None or self.owner.get(object_id) != account:
            raise no_such(KINDS[prefix], object_id, param)
        return obj

    def owned(self, prefix: str, account: str) -> list[Obj]:
        return [o for i, o in self.table(prefix).items() if self.owner.get(i) == account]

    def lookup(self, object_id: str, account: str) -> Obj | None:
        """Any object of this account by id (for ``expand[]``), whatever its kind."""
        prefix = object_id.split("_", 1)[0]
        if prefix not in KINDS or self.owner.get(object_id) != account:
            return None
        return self.table(prefix).get(object_id)


@dataclass
class Call:
    """One API request as the resource handlers see it."""

    request: Request
    params: dict[str, Any]
    account: str
    key: str

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    def known(self, *names: str) -> None:
        check_known(self.params, set(names))
