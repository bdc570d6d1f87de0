"""Idempotency keys per job (SPEC section 6).

A payment is identified by its payment intent or its order, never by venue+user+event+amount
(AUDIT: that key silently dropped a second legitimate purchase of the same amount); a refund by
its refund id, so several partial refunds of one payment are distinct jobs. Types without a
natural identity get a key unique to the job, which still makes retries of that job idempotent
at the provider.

Keys are scoped per tenant. The platform's own enqueue (in the transaction of the business write)
uses the bare keys above; a job created through the API gets its key prefixed with the scope of
the tenant the caller acts for (``caller_scope``: the job's venue, else the caller itself). A
caller repeating another tenant's key, or a key the platform will use later (a ticket's
``nft:<ticket>``, an order's ``payment:order:<order>``), gets a job of its own: it never sees the
other job's result and never blocks it.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from tickettoken.kit.errors import BadRequest

MAX_KEY_LENGTH = 255
_KEY_PATTERN = re.compile(r"^[A-Za-z0-9:_.@/+=\-]+$")


def validate_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not _KEY_PATTERN.match(key):
        raise BadRequest("idempotency key must be 1-255 characters of letters, digits and :_.@/+=-")
    return key


def caller_scope(role: str, sub: str, venue_id: str | None) -> str:
    """The key scope of an API caller: the venue it acts for, else the caller itself."""
    if venue_id is not None:
        return f"venue:{venue_id}"
    digest = hashlib.sha256(f"{role}\x00{sub}".encode()).hexdigest()[:24]
    return f"caller:{role}:{digest}"


def scoped_key(scope: str | None, key: str) -> str:
    """``key`` as stored for ``scope`` (unchanged for the platform's own jobs)."""
    if scope is None:
        return key
    scoped = f"{scope}/{key}"
    if len(scoped) > MAX_KEY_LENGTH:
        raise BadRequest(
            f"idempotency key must be at most {MAX_KEY_LENGTH - len(scope) - 1} characters"
        )
    return scoped


def _field(payload: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = payload.get(name)
        if value not in (None, ""):
            return str(value)
    return None


def derive_idempotency_key(job_type: str, payload: dict[str, Any]) -> str | None:
    """The natural key of a job, or None when the type has none (then the job's uuid is used).

    Raises BadRequest when a money job lacks the identity its key must come from.
    """
    if job_type == "payment-process":
        intent = _field(payload, "payment_intent_id", "paymentIntentId")
        if intent:
            return validate_key(f"payment:pi:{intent}")
        order = _field(payload, "order_id", "orderId")
        if order:
            return validate_key(f"payment:order:{order}")
        raise BadRequest("payment-process needs order_id or payment_intent_id")
    if job_type == "refund-process":
        refund = _field(payload, "refund_id", "refundId")
        if refund is None:
            raise BadRequest("refund-process needs refund_id (one per refund, also partial)")
        return validate_key(f"refund:{refund}")
    if job_type == "payout-process":
        payout = _field(payload, "payout_id", "payoutId")
        if payout is None:
            raise BadRequest("payout-process needs payout_id")
        return validate_key(f"payout:{payout}")
    if job_type == "nft-mint":
        ticket = _field(payload, "ticket_id", "ticketId")
        if ticket is None:
            raise BadRequest("nft-mint needs ticket_id")
        return validate_key(f"nft:{ticket}")
    if job_type in ("send-email", "send-sms", "send-push"):
        message = _field(payload, "message_id", "messageId")
        return validate_key(f"{job_type}:{message}") if message else None
    return None
