"""What tells a provider's webhook about the platform's own write (an echo) from a real change.

QuickBooks notifications carry no ``SyncToken``, only the entity, its id and ``lastUpdated``
(the entity's ``MetaData.LastUpdatedTime``, whole seconds). So every QuickBooks object the sync
writes or reads is kept in its synced record's ``remote_data.echo`` as ``"<Entity>:<Id>"`` ->
that time in UTC (``2026-11-27T20:48:41Z``); a notification naming the same object and time is
the platform's own write. Square customers need nothing here: the record's ``remote_id`` and
``remote_version`` are the webhook's ``data.id`` and ``customer.version``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

ECHO = "echo"


def echo_time(value: Any) -> str | None:
    """A provider time (``2026-11-27T12:48:41-08:00``, ``...-0800``, ``...41.000Z``) as the one
    UTC spelling the records keep, to the second; None if it is not a time."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def echo_key(entity: str, object_id: Any) -> str:
    return f"{entity.lower()}:{object_id}"


def stamp(entity: str, obj: dict[str, Any]) -> dict[str, str]:
    """``{"<entity>:<Id>": time}`` of a QuickBooks object as the API answered it (empty if it
    has no ``MetaData.LastUpdatedTime``)."""
    at = echo_time((obj.get("MetaData") or {}).get("LastUpdatedTime"))
    return {echo_key(entity, obj["Id"]): at} if at and obj.get("Id") is not None else {}
