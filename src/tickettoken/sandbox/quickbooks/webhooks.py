"""QuickBooks webhook payloads and the ``intuit-signature`` header, apart from the API.

Intuit signs the raw body with HMAC-SHA256 keyed by the app's verifier token and sends the
base64 digest in ``intuit-signature``. Two payload shapes exist: the classic
``{"eventNotifications": [{"realmId", "dataChangeEvent": {"entities": [...]}}]}`` and the newer
CloudEvents array (``specversion``, ``type: qbo.<entity>.<created|updated|deleted>.v1``,
``intuitentityid``, ``intuitaccountid``); a receiver must accept both.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any

SIGNATURE_HEADER = "intuit-signature"
FORMATS = ("classic", "cloudevents")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def change_body(
    payload_format: str,
    realm: str,
    entity: str,
    object_id: str,
    operation: str,
    last_updated: str | None = None,
) -> str:
    """One entity change (``Create``, ``Update``, ``Delete``) in the chosen payload format. Its
    time (``lastUpdated``, the CloudEvent's ``time``) is the entity's
    ``MetaData.LastUpdatedTime`` when it still exists, as Intuit sends it."""
    when = last_updated or _now()
    payload: Any
    if payload_format == "cloudevents":
        kind = {"Create": "created", "Update": "updated", "Delete": "deleted"}[operation]
        payload = [
            {
                "specversion": "1.0",
                "id": str(uuid.uuid4()),
                "source": "intuit.sandbox",
                "type": f"qbo.{entity.lower()}.{kind}.v1",
                "datacontenttype": "application/json",
                "time": when,
                "intuitentityid": object_id,
                "intuitaccountid": realm,
                "data": {},
            }
        ]
    else:
        change = {"name": entity, "id": object_id, "operation": operation, "lastUpdated": when}
        payload = {
            "eventNotifications": [{"realmId": realm, "dataChangeEvent": {"entities": [change]}}]
        }
    return json.dumps(payload)


def sign(verifier_token: str, body: str) -> str:
    digest = hmac.new(verifier_token.encode(), body.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()
