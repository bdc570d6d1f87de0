"""``send-push`` through an HTTP push API (``PUSH_API_URL``, ``PUSH_API_KEY``)."""

from __future__ import annotations

from typing import Any

from tickettoken.kit.jobs import JobContext
from tickettoken.queue.handlers.provider_calls import call_provider, endpoint, require


async def send_push(ctx: JobContext) -> dict[str, Any]:
    token, title = require(ctx.payload, "token", "title")
    base = endpoint(ctx.settings.push_api_url, "PUSH_API_URL")
    headers = {}
    if ctx.settings.push_api_key:
        headers["Authorization"] = f"Bearer {ctx.settings.push_api_key}"
    response = await call_provider(
        ctx,
        "internal",
        "POST",
        f"{base}/send",
        idempotency_key=ctx.idempotency_key,
        headers=headers,
        json={
            "token": str(token),
            "title": str(title),
            "body": ctx.payload.get("body"),
            "data": ctx.payload.get("data", {}),
        },
    )
    sent = response.json()
    return {"push_id": sent.get("id"), "status": sent.get("status")}
