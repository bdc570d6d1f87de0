"""``send-push`` through an HTTP push API (``PUSH_API_URL``, ``PUSH_API_KEY``): a platform
template filled from the job's data, never free text."""

from __future__ import annotations

from typing import Any

from tickettoken.kit.jobs import JobContext
from tickettoken.kit.jobs.payloads import SendPush, read
from tickettoken.kit.jobs.templates import render
from tickettoken.queue.handlers.provider_calls import call_provider, endpoint


async def send_push(ctx: JobContext) -> dict[str, Any]:
    payload = read(SendPush, ctx.payload)
    message = render(payload.template, payload.data)
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
            "token": payload.token,
            "title": message.push_title,
            "body": message.push_body,
            "data": {"template": payload.template},
        },
    )
    sent = response.json()
    return {"push_id": sent.get("id"), "status": sent.get("status")}
