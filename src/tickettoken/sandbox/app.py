"""One HTTP app for every emulator, plus the SMTP server beside it.

Base URLs for the platform when the sandbox listens on ``http://HOST:PORT``:
``STRIPE_BASE_URL=http://HOST:PORT``, ``SMS_API_URL=http://HOST:PORT/sms``,
``PUSH_API_URL=http://HOST:PORT/push``, ``MINTING_SERVICE_URL=http://HOST:PORT/minting``,
``SMTP_HOST=HOST``, ``SMTP_PORT=<smtp port>``, and ``STRIPE_SECRET_KEY=<the sandbox's key>``
(its ``secret_key``, also required by the fault-injection controls). Square lives under
``http://HOST:PORT/square`` and QuickBooks Online under ``http://HOST:PORT/quickbooks``; ``GET /``
lists each provider's base URLs, app credentials and webhook signing secrets.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tickettoken.sandbox.common import json_response, new_secret_key
from tickettoken.sandbox.messaging import MessagingAPI
from tickettoken.sandbox.payments import PaymentsAPI
from tickettoken.sandbox.quickbooks import QuickBooksAPI
from tickettoken.sandbox.smtp import Mailbox
from tickettoken.sandbox.square import SquareAPI


def create_sandbox_app(
    mailbox: Mailbox | None = None, *, secret_key: str | None = None
) -> Starlette:
    """The emulators' app; ``secret_key`` is generated when not given (``app.state.secret_key``)."""
    secret_key = secret_key or new_secret_key()
    payments = PaymentsAPI(secret_key)
    messaging = MessagingAPI(secret_key)
    mailbox = mailbox or Mailbox()
    square = SquareAPI(secret_key)
    quickbooks = QuickBooksAPI(secret_key)

    async def health(request: Request) -> Response:
        # The pid tells a caller that started the sandbox whether it reached its own process.
        return json_response({"status": "ok", "pid": os.getpid()})

    async def index(request: Request) -> Response:
        # Where each provider lives and the secrets it signs with (the integrator merges this
        # with the other providers' entries).
        base = str(request.base_url).rstrip("/")
        return json_response(
            {"providers": {"square": square.index(base), "quickbooks": quickbooks.index(base)}}
        )

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/", index, methods=["GET"]),
            *payments.routes(),
            *messaging.routes(),
            *mailbox.routes(),
            *square.routes(),
            *quickbooks.routes(),
        ]
    )
    app.state.secret_key = secret_key
    app.state.payments = payments
    app.state.messaging = messaging
    app.state.mailbox = mailbox
    app.state.square = square
    app.state.quickbooks = quickbooks
    return app
