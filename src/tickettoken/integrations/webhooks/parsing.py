"""A verified delivery's events: their provider event id (the dedupe key), type, the provider
account they belong to and the payload stored for the job.

Only bytes that passed the signature check reach this module. A body that is not the provider's
shape is a 400 (``MalformedDelivery``), never a 500.

The payload is kept as JSON text: a Stripe or Square event is the body itself, stored as it
arrived (no second serialisation, and the parsed objects are freed before the request waits for
its commit). The body must therefore be what ``jsonb`` accepts: UTF-8 (RFC 8259; no BOM), no
``NaN``/``Infinity``, no ``\u0000`` and no lone surrogate in a string; anything else would fail
the transaction it shares with other deliveries.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, NamedTuple

from tickettoken.integrations.webhooks.signatures import mandrill_params


class MalformedDelivery(Exception):
    """Signed, but not a payload of the provider's (the reason is safe to show)."""


class InboundEvent(NamedTuple):
    external_id: str  # unique per provider: the provider's event id, or a stable digest
    event_type: str
    account: str | None  # the provider account (Connect account, merchant, realm), if any
    payload: str  # the JSON text stored for the job


def _not_a_number(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedDelivery("the body is not UTF-8 JSON") from exc


def _json(text: str) -> Any:
    try:
        value = json.loads(text, parse_constant=_not_a_number)
    except ValueError as exc:
        raise MalformedDelivery("the body is not JSON") from exc
    if "\\u" in text and not _storable(value):  # only escapes make such strings
        raise MalformedDelivery("a string holds \\u0000 or a lone surrogate")
    return value


def _storable(value: Any) -> bool:
    """No NUL and no lone surrogate in any string or key (``jsonb`` refuses both)."""
    if isinstance(value, str):
        return "\x00" not in value and (value.isascii() or _encodes(value))
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    return True


def _encodes(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _text(value: Any, name: str, limit: int = 255) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise MalformedDelivery(f"{name} is missing or invalid")
    return value


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:48]


def stripe_events(body: bytes) -> list[InboundEvent]:
    text = _decode(body)
    event = _json(text)
    if not isinstance(event, dict) or event.get("object") != "event":
        raise MalformedDelivery("not a Stripe event")
    account = event.get("account")
    return [
        InboundEvent(
            _text(event.get("id"), "id"),
            _text(event.get("type"), "type", 100),
            account if isinstance(account, str) else None,
            text,
        )
    ]


def square_events(body: bytes) -> list[InboundEvent]:
    text = _decode(body)
    event = _json(text)
    if not isinstance(event, dict):
        raise MalformedDelivery("not a Square event")
    merchant = event.get("merchant_id")
    return [
        InboundEvent(
            _text(event.get("event_id"), "event_id"),
            _text(event.get("type"), "type", 100),
            merchant if isinstance(merchant, str) else None,
            text,
        )
    ]


def quickbooks_events(body: bytes) -> list[InboundEvent]:
    """Both shapes: the classic ``eventNotifications`` (no event id: the change itself, realm,
    entity, id, operation and lastUpdated, is the key) and the CloudEvents array (``id``)."""
    payload = _json(_decode(body))
    found: list[InboundEvent] = []
    if isinstance(payload, list):
        for cloud in payload:
            if not isinstance(cloud, dict):
                raise MalformedDelivery("not a CloudEvent")
            kind = _text(cloud.get("type"), "type", 100)  # qbo.customer.updated.v1
            parts = kind.split(".")
            if len(parts) < 3:
                raise MalformedDelivery("type is not qbo.<entity>.<operation>")
            realm = _text(cloud.get("intuitaccountid"), "intuitaccountid")
            change: dict[str, Any] = {
                "realm_id": realm,
                "entity": parts[1],
                "entity_id": _text(cloud.get("intuitentityid"), "intuitentityid"),
                "operation": parts[2],
                "time": cloud.get("time"),
                "format": "cloudevents",
                "event": cloud,
            }
            found.append(InboundEvent(_text(cloud.get("id"), "id"), kind, realm, _dumps(change)))
        return found
    if not isinstance(payload, dict) or not isinstance(payload.get("eventNotifications"), list):
        raise MalformedDelivery("neither eventNotifications nor a CloudEvents array")
    for notification in payload["eventNotifications"]:
        if not isinstance(notification, dict):
            raise MalformedDelivery("eventNotifications holds a non-object")
        realm = _text(notification.get("realmId"), "realmId")
        entities = (notification.get("dataChangeEvent") or {}).get("entities")
        if not isinstance(entities, list):
            raise MalformedDelivery("dataChangeEvent.entities is missing")
        for entity in entities:
            if not isinstance(entity, dict):
                raise MalformedDelivery("an entity is not an object")
            name = _text(entity.get("name"), "name", 60)
            operation = _text(entity.get("operation"), "operation", 30)
            change = {
                "realm_id": realm,
                "entity": name.lower(),
                "entity_id": _text(entity.get("id"), "id"),
                "operation": operation.lower(),
                "time": entity.get("lastUpdated"),
                "format": "classic",
                "event": entity,
            }
            key = _digest(realm, name, change["entity_id"], operation, entity.get("lastUpdated"))
            kind = f"qbo.{change['entity']}.{change['operation']}"
            found.append(InboundEvent(f"qbo:{key}", kind, realm, _dumps(change)))
    return found


def mandrill_events(body: bytes) -> list[InboundEvent]:
    """Mandrill posts a form field ``mandrill_events``: a JSON array of events, each with its
    ``_id`` (the message), ``event`` and ``ts``; the three together identify the event."""
    raw = mandrill_params(body).get("mandrill_events")
    if raw is None:
        raise MalformedDelivery("mandrill_events is missing")
    events = _json(raw)
    if not isinstance(events, list):
        raise MalformedDelivery("mandrill_events is not an array")
    found = []
    for event in events:
        if not isinstance(event, dict):
            raise MalformedDelivery("a mandrill event is not an object")
        kind = _text(event.get("event") or event.get("type"), "event", 60)
        msg = event.get("msg")
        message: dict[str, Any] = msg if isinstance(msg, dict) else {}
        key = _digest(event.get("_id") or message.get("_id"), kind, event.get("ts"))
        found.append(InboundEvent(f"mandrill:{key}", f"mandrill.{kind}", None, _dumps(event)))
    return found


def mailchimp_audience_event(fields: list[tuple[str, str]]) -> InboundEvent:
    """An audience webhook's form fields (``type``, ``fired_at``, ``data[email]``, ...) as one
    event; it has no id, so its content is the key (a re-sent copy is the same event)."""
    data: dict[str, str] = {}
    top: dict[str, str] = {}
    if not _storable(dict(fields)):
        raise MalformedDelivery("a field holds NUL")
    for name, value in fields:
        if name.startswith("data[") and name.endswith("]"):
            data[name[5:-1]] = value  # data[merges][FNAME] keeps "merges][FNAME" as its name
        else:
            top[name] = value
    kind = _text(top.get("type"), "type", 60)
    payload = {**top, "data": data}
    key = _digest(kind, top.get("fired_at"), data.get("list_id"), data.get("id"), data)
    return InboundEvent(f"mailchimp:{key}", kind, data.get("list_id"), _dumps(payload))
