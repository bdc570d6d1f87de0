"""Mailchimp audience webhooks: ``/lists/{id}/webhooks`` and their form-encoded deliveries.

As on Mailchimp, a list's webhooks name the ``events`` they want (``subscribe``,
``unsubscribe``, ``profile``, ``cleaned``, ``upemail``, ``campaign``) and the ``sources``
(``user``, ``admin``, ``api``; changes made through the API are sent only to hooks that ask for
``api``). A delivery is an unsigned ``application/x-www-form-urlencoded`` POST of ``type``,
``fired_at`` and ``data[...]`` fields (``data[merges][FNAME]``...), which is why the receiving
URL carries a secret of its own. Failed deliveries are retried (``Deliverer``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from tickettoken.sandbox.delivery import Deliverer

EVENTS = ("subscribe", "unsubscribe", "profile", "cleaned", "upemail", "campaign")
SOURCES = ("user", "admin", "api")
DEFAULT_SOURCES = {"user": True, "admin": True, "api": False}


def form_body(kind: str, list_id: str, member: dict[str, Any], **data: str) -> str:
    fields = {
        "type": kind,
        "fired_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "data[id]": member["id"],
        "data[list_id]": list_id,
        "data[email]": member["email_address"],
        "data[email_type]": member.get("email_type", "html"),
        "data[merges][EMAIL]": member["email_address"],
        **{f"data[merges][{k}]": str(v) for k, v in (member.get("merge_fields") or {}).items()},
        **{f"data[{k}]": v for k, v in data.items()},
    }
    return urlencode(fields)


@dataclass
class ListWebhooks:
    """One account's audience webhooks, by list."""

    hooks: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    deliverer: Deliverer = field(default_factory=Deliverer)

    def route(self, method: str, list_id: str, hook_id: str | None, body: Any) -> tuple[int, Any]:
        """``GET``/``POST /lists/{id}/webhooks``, ``GET``/``DELETE .../webhooks/{hook}``;
        ``None`` when the path is not one of them."""
        hooks = self.hooks.setdefault(list_id, {})
        if hook_id is None and method == "GET":
            return 200, {
                "webhooks": list(hooks.values()),
                "list_id": list_id,
                "total_items": len(hooks),
            }
        if hook_id is None and method == "POST":
            url = str((body or {}).get("url") or "")
            if not url.startswith(("http://", "https://")):
                return 400, {"field": "url", "message": "Please enter a valid URL."}
            new_id = secrets.token_hex(5)
            hook: dict[str, Any] = {
                "id": new_id,
                "url": url,
                "events": {
                    e: bool(((body or {}).get("events") or {}).get(e, True)) for e in EVENTS
                },
                "sources": {
                    s: bool(((body or {}).get("sources") or {}).get(s, DEFAULT_SOURCES[s]))
                    for s in SOURCES
                },
                "list_id": list_id,
            }
            hooks[new_id] = hook
            return 200, hook
        found = hooks.get(hook_id or "")
        if found is None:
            return 404, {}
        if method == "GET":
            return 200, found
        if method == "DELETE":
            del hooks[str(found["id"])]
            return 204, {}
        return 404, {}

    def notify(
        self, list_id: str, kind: str, member: dict[str, Any], source: str, **data: str
    ) -> None:
        wanted = [
            hook
            for hook in self.hooks.get(list_id, {}).values()
            if hook["events"].get(kind) and hook["sources"].get(source)
        ]
        if not wanted:  # a batch of 500 members built 500 bodies nobody received
            return
        body = form_body(kind, list_id, member, **data)
        for hook in wanted:
            self.deliverer.send(
                body, {}, url=hook["url"], content_type="application/x-www-form-urlencoded"
            )

    def member_changed(
        self, list_id: str, before: str | None, member: dict[str, Any], source: str = "api"
    ) -> None:
        """The event a member's status change makes, if any."""
        after = member["status"]
        if before == after:
            return
        if after == "unsubscribed":
            self.notify(list_id, "unsubscribe", member, source, action="unsub", reason="manual")
        elif after == "subscribed":
            self.notify(list_id, "subscribe", member, source)
        elif after == "cleaned":
            self.notify(list_id, "cleaned", member, source, reason="hard")
