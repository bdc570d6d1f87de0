"""An SMTP server (aiosmtpd) that keeps every message it receives, readable over HTTP.

aiosmtpd is the maintained asyncio SMTP server; writing one by hand would be pointless.
"""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tickettoken.sandbox.common import json_response


class Mailbox:
    """aiosmtpd handler: stores each accepted message (sender, recipients, headers, body)."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        parsed = message_from_bytes(raw, policy=default_policy)
        body = parsed.get_body(preferencelist=("plain", "html"))
        self.messages.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "subject": str(parsed.get("Subject", "")),
                "message_id": str(parsed.get("Message-ID", "")),
                "idempotency_key": str(parsed.get("X-Idempotency-Key", "")),
                "body": body.get_content() if body is not None else "",
            }
        )
        return "250 Message accepted for delivery"

    def routes(self) -> list[Route]:
        async def handle(request: Request) -> Response:
            return json_response({"count": len(self.messages), "items": self.messages})

        return [Route("/_sandbox/emails", handle, methods=["GET"])]


def start_smtp(mailbox: Mailbox, host: str, port: int) -> Controller:
    controller = Controller(mailbox, hostname=host, port=port)
    controller.start()
    return controller
