"""Where alerts go: the log always; email (SMTP) to ``ALERT_EMAIL_TO``; a JSON webhook
(``ALERT_WEBHOOK_URL``, e.g. an SMS gateway).

A channel that fails is logged with its error and counted in ``tickettoken_alerts_sent_total``
(``result="error"``); the alert stays in ``alert_history`` either way, and other channels still
get it. Email uses the standard library's ``smtplib`` in a thread: one message per alert does not
justify an async SMTP dependency.
"""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from typing import Any

import httpx
import structlog
from prometheus_client import Counter

from tickettoken.kit.request_context import current_request_id
from tickettoken.kit.settings import Settings
from tickettoken.queue.alerts.rules import Alert

log = structlog.get_logger(__name__)

ALERTS_SENT = Counter(
    "tickettoken_alerts_sent_total", "Alerts sent per channel", ["severity", "channel", "result"]
)


def _payload(alert: Alert, alert_id: str) -> dict[str, Any]:
    return {
        "id": alert_id,
        "severity": alert.severity,
        "type": alert.alert_type,
        "queue": alert.queue,
        "message": alert.message,
        "value": alert.value,
        "threshold": alert.threshold,
        "source": "tickettoken-queue",
    }


def _send_email(settings: Settings, alert: Alert, alert_id: str) -> None:
    assert settings.smtp_host and settings.alert_email_to
    message = EmailMessage()
    message["Subject"] = f"[{alert.severity.upper()}] TicketToken queue: {alert.alert_type}"
    message["From"] = settings.smtp_from
    message["To"] = settings.alert_email_to
    message.set_content(f"{alert.message}\n\nalert id: {alert_id}\n")
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user and settings.smtp_password:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(message)


async def _webhook(settings: Settings, alert: Alert, alert_id: str) -> None:
    assert settings.alert_webhook_url
    headers = {"X-Request-ID": current_request_id() or alert_id}
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            settings.alert_webhook_url, json=_payload(alert, alert_id), headers=headers
        )
        response.raise_for_status()


async def send(settings: Settings, alert: Alert, alert_id: str) -> dict[str, str]:
    """Deliver an alert to every configured channel; returns channel -> "sent" | error text."""
    level = "critical" if alert.severity == "critical" else "warning"
    getattr(log, level)("queue_alert", **_payload(alert, alert_id))
    ALERTS_SENT.labels(alert.severity, "log", "sent").inc()
    outcome = {"log": "sent"}
    if settings.smtp_host and settings.alert_email_to:
        outcome["email"] = await _attempt(
            "email", alert, asyncio.to_thread(_send_email, settings, alert, alert_id)
        )
    if settings.alert_webhook_url:
        outcome["webhook"] = await _attempt("webhook", alert, _webhook(settings, alert, alert_id))
    return outcome


async def _attempt(channel: str, alert: Alert, delivery: Any) -> str:
    try:
        await delivery
    except (OSError, smtplib.SMTPException, httpx.HTTPError) as exc:
        log.error("queue_alert_channel_failed", channel=channel, error=str(exc))
        ALERTS_SENT.labels(alert.severity, channel, "error").inc()
        return f"error: {exc}"
    ALERTS_SENT.labels(alert.severity, channel, "sent").inc()
    return "sent"
