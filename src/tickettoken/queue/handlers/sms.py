"""``send-sms`` through an HTTP SMS API (``SMS_API_URL``, ``SMS_API_KEY``): a platform template
filled from the job's data, never free text."""

from __future__ import annotations

from typing import Any

from tickettoken.kit.jobs import JobContext
from tickettoken.kit.jobs.payloads import SendSms, read
from tickettoken.kit.jobs.templates import render
from tickettoken.queue.handlers.provider_calls import call_provider, endpoint


async def send_sms(ctx: JobContext) -> dict[str, Any]:
    payload = read(SendSms, ctx.payload)
    to, body = payload.to, render(payload.template, payload.data).sms
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
        json={"to": to, "body": body},
    )
    sent = response.json()
    return {"message_id": sent.get("id"), "status": sent.get("status"), "to": to}
