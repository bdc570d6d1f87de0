"""SMS, push and minting endpoints: JSON APIs that record what they were asked to deliver.

Each deduplicates on ``Idempotency-Key`` (a repeated send is recorded once) and can be told to
fail the next requests (``POST /_sandbox/faults``, with the sandbox's own key), so handler retries
are testable.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tickettoken.sandbox.common import (
    FaultPlan,
    has_key,
    invalid_key_response,
    json_response,
    new_id,
)


@dataclass
class Outbox:
    """Delivered items of one kind, by id, with the key each was sent under."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)


class MessagingAPI:
    def __init__(self, secret_key: str) -> None:
        self.secret_key = secret_key
        self.sms = Outbox()
        self.push = Outbox()
        self.mints = Outbox()
        self.faults = FaultPlan()

    def routes(self) -> list[Route]:
        return [
            Route("/sms/messages", self.send_sms, methods=["POST"]),
            Route("/push/send", self.send_push, methods=["POST"]),
            Route("/minting/api/v1/mint", self.mint, methods=["POST"]),
            Route("/_sandbox/sms", self.list_of(self.sms), methods=["GET"]),
            Route("/_sandbox/push", self.list_of(self.push), methods=["GET"]),
            Route("/_sandbox/mints", self.list_of(self.mints), methods=["GET"]),
            Route("/_sandbox/faults", self.set_faults, methods=["POST"]),
        ]

    async def _accept(
        self, request: Request, outbox: Outbox, prefix: str, required: tuple[str, ...]
    ) -> tuple[dict[str, Any] | None, Response | None]:
        if self.faults.take(request.url.path):
            return None, json_response(
                {"error": "injected failure"},
                self.faults.status,
                **{"Retry-After": str(self.faults.retry_after)},
            )
        try:
            data = await request.json()
        except ValueError:
            return None, json_response({"error": "body must be JSON"}, 400)
        if not isinstance(data, dict):
            return None, json_response({"error": "body must be a JSON object"}, 400)
        missing = [name for name in required if not data.get(name)]
        if missing:
            return None, json_response({"error": f"missing: {', '.join(missing)}"}, 422)
        key = request.headers.get("idempotency-key")
        if key and key in outbox.by_key:
            return None, json_response(
                outbox.items[outbox.by_key[key]], 200, **{"Idempotent-Replayed": "true"}
            )
        item = {"id": new_id(prefix), **data, "created": time.time(), "idempotency_key": key}
        outbox.items[item["id"]] = item
        if key:
            outbox.by_key[key] = item["id"]
        return item, None

    async def send_sms(self, request: Request) -> Response:
        item, error = await self._accept(request, self.sms, "sms", ("to", "body"))
        if error is not None:
            return error
        assert item is not None
        item["status"] = "queued"
        return json_response(item, 201)

    async def send_push(self, request: Request) -> Response:
        item, error = await self._accept(request, self.push, "push", ("token", "title"))
        if error is not None:
            return error
        assert item is not None
        item["status"] = "sent"
        return json_response(item, 201)

    async def mint(self, request: Request) -> Response:
        item, error = await self._accept(request, self.mints, "mint", ("ticket_id", "owner"))
        if error is not None:
            return error
        assert item is not None
        item.update(
            status="minted",
            mint_address=secrets.token_hex(16),
            transaction_signature=secrets.token_hex(32),
        )
        return json_response(item, 201)

    def list_of(self, outbox: Outbox) -> Any:
        async def handle(request: Request) -> Response:
            return json_response({"count": len(outbox.items), "items": list(outbox.items.values())})

        return handle

    async def set_faults(self, request: Request) -> Response:
        if not has_key(request, self.secret_key):
            return invalid_key_response()
        data = await request.json()
        self.faults = FaultPlan(
            status=int(data.get("status", 503)),
            count=int(data.get("count", 0)),
            path_prefix=str(data.get("path_prefix", "/")),
            retry_after=float(data.get("retry_after", 1.0)),
        )
        return json_response({"ok": True})
