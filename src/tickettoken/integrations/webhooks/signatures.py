"""Each provider's webhook signature scheme, checked over the exact bytes that arrived.

Nothing here parses JSON: a signature covers bytes, and a body re-serialised by a parser (key
order, spacing, escapes) is a different text. Every comparison is ``hmac.compare_digest``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from urllib.parse import parse_qsl

STRIPE_TOLERANCE_SECONDS = 300


class SignatureRefused(Exception):
    """The delivery's signature is missing, malformed, stale or wrong (the reason is for logs)."""


def _b64_equal(expected: bytes, given: str) -> bool:
    try:
        decoded = base64.b64decode(given.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(expected, decoded)


def verify_stripe(secret: str, body: bytes, header: str | None, *, now: float | None = None) -> int:
    """``Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]``: HMAC-SHA256 of ``t.body``, any ``v1``
    may match (several during a secret roll), ``t`` within 300 s. Returns the timestamp."""
    if not header:
        raise SignatureRefused("no Stripe-Signature header")
    stamps: list[str] = []
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            stamps.append(value)
        elif name == "v1":
            candidates.append(value)
    if len(stamps) != 1 or not stamps[0].isdigit() or not candidates:
        raise SignatureRefused("malformed Stripe-Signature header")
    stamp = int(stamps[0])
    expected = hmac.new(secret.encode(), stamps[0].encode() + b"." + body, hashlib.sha256)
    digest = expected.hexdigest()
    # Every candidate is compared (no early exit that would time which one matched).
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(digest, candidate)
    if not matched:
        raise SignatureRefused("no v1 signature matches")
    current = time.time() if now is None else now
    if abs(current - stamp) > STRIPE_TOLERANCE_SECONDS:
        raise SignatureRefused("timestamp outside the tolerance")
    return stamp


def verify_square(key: str, notification_url: str, body: bytes, header: str | None) -> None:
    """``x-square-hmacsha256-signature``: base64 HMAC-SHA256 of notification URL + body."""
    if not header:
        raise SignatureRefused("no x-square-hmacsha256-signature header")
    expected = hmac.new(key.encode(), notification_url.encode() + body, hashlib.sha256).digest()
    if not _b64_equal(expected, header):
        raise SignatureRefused("square signature does not match")


def verify_quickbooks(verifier_token: str, body: bytes, header: str | None) -> None:
    """``intuit-signature``: base64 HMAC-SHA256 of the body under the verifier token."""
    if not header:
        raise SignatureRefused("no intuit-signature header")
    expected = hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()
    if not _b64_equal(expected, header):
        raise SignatureRefused("intuit signature does not match")


def mandrill_params(body: bytes) -> dict[str, str]:
    """The POST fields of a form-encoded Mandrill delivery (the last value of a repeated name)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SignatureRefused("form body is not UTF-8") from exc
    return dict(parse_qsl(text, keep_blank_values=True))


def verify_mandrill(key: str, url: str, params: dict[str, str], header: str | None) -> None:
    """``X-Mandrill-Signature``: base64 HMAC-SHA1 of the webhook URL followed by each POST
    field's name and value, sorted by name."""
    if not header:
        raise SignatureRefused("no X-Mandrill-Signature header")
    signed = url + "".join(name + params[name] for name in sorted(params))
    expected = hmac.new(key.encode(), signed.encode(), hashlib.sha1).digest()
    if not _b64_equal(expected, header):
        raise SignatureRefused("mandrill signature does not match")


def mailchimp_token(secret: str, venue_id: str) -> str:
    """The secret path token of a venue's Mailchimp audience webhook URL: the venue id and an
    HMAC of it, so the token names its venue and cannot be made without the secret."""
    mac = hmac.new(secret.encode(), f"mailchimp-webhook:{venue_id}".encode(), hashlib.sha256)
    return f"{venue_id}.{mac.hexdigest()[:40]}"


def verify_mailchimp_token(secret: str, token: str) -> str:
    """The venue id a path token was made for; refused unless it is the token we made."""
    venue_id, _, _ = token.partition(".")
    if not venue_id or not hmac.compare_digest(mailchimp_token(secret, venue_id), token):
        raise SignatureRefused("unknown mailchimp webhook token")
    return venue_id
