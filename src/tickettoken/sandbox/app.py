"""One HTTP app for every emulator, plus the SMTP server beside it.

Base URLs for the platform when the sandbox listens on ``http://HOST:PORT``:
``STRIPE_BASE_URL=http://HOST:PORT``, ``SMS_API_URL=http://HOST:PORT/sms``,
``PUSH_API_URL=http://HOST:PORT/push``, ``MINTING_SERVICE_URL=http://HOST:PORT/minting``,
``SMTP_HOST=HOST``, ``SMTP_PORT=<smtp port>``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tickettoken.sandbox.common import json_response
from tickettoken.sandbox.messaging import MessagingAPI
from tickettoken.sandbox.payments import PaymentsAPI
from tickettoken.sandbox.smtp import Mailbox


def create_sandbox_app(mailbox: Mailbox | None = None) -> Starlette:
    payments = PaymentsAPI()
    messaging = MessagingAPI()
    mailbox = mailbox or Mailbox()

    async def health(request: Request) -> Response:
        return json_response({"status": "ok"})

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            *payments.routes(),
            *messaging.routes(),
            *mailbox.routes(),
        ]
    )
    app.state.payments = payments
    app.state.messaging = messaging
    app.state.mailbox = mailbox
    return app
