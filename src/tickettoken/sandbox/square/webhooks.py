"""Square's webhook events and their signature, apart from the API so part 2 can reuse them.

Square signs ``notification URL + raw body`` with HMAC-SHA256 under the subscription's signature
key and sends the base64 digest in ``x-square-hmacsha256-signature``; the URL is part of the
signed text so a body replayed to another endpoint fails verification. Events carry
``merchant_id``, ``type`` (``customer.created``, ``catalog.version.updated``, ...), a unique
``event_id``, ``created_at`` and ``data: {type, id, object}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

from tickettoken.sandbox.square.state import rfc3339

SIGNATURE_HEADER = "x-square-hmacsha256-signature"


def event_body(
    merchant_id: str, kind: str, data_type: str, object_id: str, obj: dict[str, Any]
) -> str:
    return json.dumps(
        {
            "merchant_id": merchant_id,
            "type": kind,
            "event_id": secrets.token_hex(16),
            "created_at": rfc3339(),
            "data": {"type": data_type, "id": object_id, "object": obj},
        }
    )


def sign(signature_key: str, notification_url: str, body: str) -> str:
    digest = hmac.new(signature_key.encode(), (notification_url + body).encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()
