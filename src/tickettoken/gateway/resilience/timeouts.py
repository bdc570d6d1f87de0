"""Per-route time budgets (SPEC section 7) that bound the whole call, retries included.

AUDIT: the original used a fixed short proxy timeout, which made the longer payment and minting
budgets meaningless. Here the budget is a deadline set when the request arrives; every attempt,
every backoff and the streaming of the answer all live inside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tickettoken.kit.settings import Settings

_PAYMENT_PATH = re.compile(r"/(payments?|checkout)(/|$)|^/api/v1/reservations/[^/]+/confirm/?$")
_MINTING_PATH = re.compile(r"/(nft|mint|minting)(/|$)")


@dataclass(frozen=True)
class RouteTimeouts:
    """Seconds per kind of route: default 10, payments and checkout 30, NFT minting 120."""

    default: float = 10.0
    payment: float = 30.0
    minting: float = 120.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RouteTimeouts:
        return cls(
            default=settings.gateway_timeout_default_seconds,
            payment=settings.gateway_timeout_payment_seconds,
            minting=settings.gateway_timeout_minting_seconds,
        )

    def for_route(self, service: str, path: str) -> float:
        if service in ("minting", "blockchain") or _MINTING_PATH.search(path):
            return self.minting
        if service == "payment" or _PAYMENT_PATH.search(path):
            return self.payment
        return self.default
