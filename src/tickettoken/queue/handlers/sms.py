"""``send-sms`` through an HTTP SMS API (``SMS_API_URL``, ``SMS_API_KEY``)."""

from __future__ import annotations

from typing import Any

from tickettoken.kit.jobs import JobContext
from tickettoken.queue.handlers.provider_calls import call_provider, endpoint, require


async def send_sms(ctx: JobContext) -> dict[str, Any]:
    to, body = require(ctx.payload, "to", "body")
    base = endpoint(ctx.settings.sms_api_url, "SMS_API_URL")
    headers = {}
    if ctx.settings.sms_api_key:
        headers["Authorization"] = f"Bearer {ctx.settings.sms_api_key}"
    response = await call_provider(
        ctx,
        "twilio",
        "POST",
        f"{base}/messages",
        idempotency_key=ctx.idempotency_key,
        headers=headers,
        json={"to": str(to), "body": str(body), "from": ctx.payload.get("from")},
    )
    sent = response.json()
    return {"message_id": sent.get("id"), "status": sent.get("status"), "to": str(to)}
