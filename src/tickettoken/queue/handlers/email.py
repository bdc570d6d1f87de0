"""``send-email`` through SMTP (``SMTP_HOST``/``SMTP_PORT``...).

The message is one of the platform's templates (``kit.jobs.templates``) filled from the job's
data, always from ``SMTP_FROM``: a job carries no subject, body or sender of its own.

The stdlib's smtplib runs in a thread: one blocking connection per message is simple and fast
enough for transactional mail, and avoids another dependency. The job's idempotency key goes into
``Message-ID``/``X-Idempotency-Key`` so a provider that deduplicates can do so on a repeat (tier 2
promises at worst a repeated send after a crash).
"""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from tickettoken.kit.jobs import JobContext, PermanentJobError, RetryableJobError
from tickettoken.kit.jobs.payloads import SendEmail, read
from tickettoken.kit.jobs.templates import render
from tickettoken.kit.settings import Settings


def _send(settings: Settings, message: EmailMessage) -> None:
    assert settings.smtp_host is not None
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user and settings.smtp_password:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(message)


async def send_email(ctx: JobContext) -> dict[str, Any]:
    settings = ctx.settings
    if not settings.smtp_host:
        raise PermanentJobError("SMTP_HOST is not configured")
    payload = read(SendEmail, ctx.payload)
    rendered = render(payload.template, payload.data)
    recipients = [str(payload.to)]
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(recipients)
    message["Subject"] = rendered.subject
    domain = str(message["From"]).rsplit("@", 1)[-1].strip("> ") or "tickettoken.local"
    message["Message-ID"] = make_msgid(idstring=ctx.job_id, domain=domain)
    message["X-Idempotency-Key"] = ctx.idempotency_key
    message.set_content(rendered.text)
    try:
        async with ctx.limiter.slot("sendgrid"):
            await asyncio.to_thread(_send, settings, message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentJobError(f"recipients refused: {list(exc.recipients)}") from exc
    except smtplib.SMTPResponseException as exc:
        if 400 <= exc.smtp_code < 500:
            raise RetryableJobError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
        raise PermanentJobError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
    except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError) as exc:
        raise RetryableJobError(f"SMTP connection: {exc}") from exc
    return {"message_id": str(message["Message-ID"]), "recipients": recipients}
