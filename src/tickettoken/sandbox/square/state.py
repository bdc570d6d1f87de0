"""What one Square seller (merchant) owns in the sandbox, and the OAuth grants that reach it.

Each authorization creates a seller of its own unless the authorize URL names an existing one
(``merchant_id=``, a sandbox extension), so two venues connecting never share a catalog.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tickettoken.sandbox.square.errors import bad_request


def square_id(length: int = 24) -> str:
    """Square-like ids: upper-case letters and digits (base32 of one random read: a
    ``secrets.choice`` per character cost a system call each, most of a 1,000-object upsert)."""
    raw = base64.b32encode(secrets.token_bytes((length * 5 + 7) // 8)).decode()
    return raw[:length]


def rfc3339(at: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass
class Seller:
    merchant_id: str
    business_name: str
    location_id: str
    created_at: str = field(default_factory=rfc3339)
    catalog: dict[str, dict[str, Any]] = field(default_factory=dict)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    counts: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    inventory_changes: list[dict[str, Any]] = field(default_factory=list)
    idempotent: dict[str, Any] = field(default_factory=dict)

    def merchant(self) -> dict[str, Any]:
        return {
            "id": self.merchant_id,
            "business_name": self.business_name,
            "country": "US",
            "language_code": "en-US",
            "currency": "USD",
            "status": "ACTIVE",
            "main_location_id": self.location_id,
            "created_at": self.created_at,
        }

    def location(self) -> dict[str, Any]:
        return {
            "id": self.location_id,
            "name": self.business_name,
            "merchant_id": self.merchant_id,
            "country": "US",
            "language_code": "en-US",
            "currency": "USD",
            "status": "ACTIVE",
            "type": "PHYSICAL",
            "timezone": "UTC",
            "capabilities": ["CREDIT_CARD_PROCESSING"],
            "created_at": self.created_at,
        }


@dataclass
class AccessToken:
    token: str
    merchant_id: str
    expires_at: float
    refresh_token: str
    scopes: frozenset[str] = frozenset()
    revoked: bool = False


@dataclass
class Grant:
    """An authorization code waiting to be exchanged (single use, short-lived)."""

    merchant_id: str
    redirect_uri: str | None
    expires_at: float
    scopes: frozenset[str] = frozenset()


@dataclass
class App:
    """The registered application: credentials, redirect URIs (empty: any), refusals to simulate."""

    client_id: str
    client_secret: str
    redirect_uris: list[str] = field(default_factory=list)
    deny_all: bool = False


def new_seller(name: str | None = None) -> Seller:
    merchant_id = square_id(13)
    return Seller(merchant_id, name or f"Sandbox Seller {merchant_id[:4]}", square_id(13))


def page(items: list[dict[str, Any]], cursor: Any, limit: int, key: str) -> dict[str, Any]:
    """One page of ``items`` under ``key``, with an opaque ``cursor`` when more remain.

    Opaque like Square's, so a client cannot build cursors itself; a forged one is
    ``INVALID_CURSOR``.
    """
    start = 0
    if cursor:
        try:
            start = int(base64.urlsafe_b64decode(str(cursor).encode()).decode().split(":")[1])
        except (ValueError, IndexError) as error:
            raise bad_request(
                "INVALID_CURSOR", "The pagination cursor is invalid.", "cursor"
            ) from error
    chunk = items[start : start + limit]
    answer: dict[str, Any] = {key: chunk} if chunk else {}
    if start + limit < len(items):
        answer["cursor"] = base64.urlsafe_b64encode(f"offset:{start + limit}".encode()).decode()
    return answer
