"""One HTTP app for every emulator, plus the SMTP server beside it.

Each provider is one object registered in ``_providers`` below (one line each): it serves its
routes under a base path of its own and says in ``describe`` what its base URLs and webhook
signing secrets are, which ``GET /`` lists for the platform and for people. Base URLs when the
sandbox listens on ``http://HOST:PORT`` (``GET /`` gives the full list):
Stripe ``http://HOST:PORT`` (API, Connect OAuth), Mailchimp ``http://HOST:PORT/mailchimp``
(``/3.0`` API, ``/oauth2``), Mandrill ``http://HOST:PORT/mandrill/api/1.0``,
``SMS_API_URL=http://HOST:PORT/sms``, ``PUSH_API_URL=http://HOST:PORT/push``,
``MINTING_SERVICE_URL=http://HOST:PORT/minting``, ``SMTP_HOST=HOST``, ``SMTP_PORT=<smtp port>``;
Square ``http://HOST:PORT/square`` (API and OAuth), QuickBooks Online
``http://HOST:PORT/quickbooks`` (discovery document, OAuth, ``/v3`` API); the sandbox's own key
(``secret_key``) is Stripe's secret key and guards the test controls. ``GET /_sandbox/requests``
lists the provider requests received (``request_log.py``: what a test counts as writes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tickettoken.sandbox.common import has_key, invalid_key_response, json_response, new_secret_key
from tickettoken.sandbox.mailchimp import MailchimpAPI
from tickettoken.sandbox.mandrill import MandrillAPI
from tickettoken.sandbox.messaging import MessagingAPI
from tickettoken.sandbox.payments import PaymentsAPI
from tickettoken.sandbox.quickbooks import QuickBooksAPI
from tickettoken.sandbox.request_log import RequestLog, RequestLogMiddleware
from tickettoken.sandbox.smtp import Mailbox
from tickettoken.sandbox.square import SquareAPI
from tickettoken.sandbox.stripe.ratelimit import DEFAULT_BURST, TEST_MODE_RATE


class SandboxProvider(Protocol):
    """What a provider emulator gives the app: its routes and its entry in ``GET /``."""

    name: str

    def routes(self) -> list[BaseRoute]: ...

    def describe(self, base_url: str) -> dict[str, Any]:
        """Base URLs (``api_base_url``, ``oauth_base_url``, ...) and ``webhook_signing_secrets``."""
        ...


# A provider may also define ``reset()``: ``POST /_sandbox/reset`` (the sandbox's key) calls it.


@dataclass
class SandboxOptions:
    """Provider settings the command line can change (defaults are the providers' own)."""

    stripe_rate: float = TEST_MODE_RATE
    stripe_burst: float = DEFAULT_BURST
    stripe_webhook_url: str | None = None
    stripe_webhook_secret: str | None = None
    square_webhook_url: str | None = None
    quickbooks_webhook_url: str | None = None
    oauth_redirect_uris: list[str] = field(default_factory=list)


def _providers(secret_key: str, options: SandboxOptions) -> list[SandboxProvider]:
    """Every provider emulator, one line each."""
    return [
        PaymentsAPI(
            secret_key,
            rate=options.stripe_rate,
            burst=options.stripe_burst,
            redirect_uris=options.oauth_redirect_uris,
            webhook_url=options.stripe_webhook_url,
            webhook_secret=options.stripe_webhook_secret,
        ),
        MailchimpAPI(secret_key, redirect_uris=options.oauth_redirect_uris),
        MandrillAPI(secret_key),
        SquareAPI(secret_key),
        QuickBooksAPI(secret_key),
    ]


def create_sandbox_app(
    mailbox: Mailbox | None = None,
    *,
    secret_key: str | None = None,
    options: SandboxOptions | None = None,
) -> Starlette:
    """The emulators' app; ``secret_key`` is generated when not given (``app.state.secret_key``)."""
    secret_key = secret_key or new_secret_key()
    providers = _providers(secret_key, options or SandboxOptions())
    messaging = MessagingAPI(secret_key)
    mailbox = mailbox or Mailbox()
    requests = RequestLog(secret_key)  # GET /_sandbox/requests

    async def health(request: Request) -> Response:
        # The pid tells a caller that started the sandbox whether it reached its own process.
        return json_response({"status": "ok", "pid": os.getpid()})

    async def reset(request: Request) -> Response:
        """Test control (the sandbox's own key): every provider forgets its state."""
        if not has_key(request, secret_key):
            return invalid_key_response()
        for provider in providers:
            forget = getattr(provider, "reset", None)
            if forget is not None:
                forget()
        return json_response({"reset": [p.name for p in providers]})

    async def index(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return json_response(
            {
                "sandbox": "TicketToken provider sandbox",
                "providers": {p.name: p.describe(base) for p in providers},
                "messaging": {
                    "sms_api_url": f"{base}/sms",
                    "push_api_url": f"{base}/push",
                    "minting_service_url": f"{base}/minting",
                },
            }
        )

    routes: list[BaseRoute] = [
        Route("/", index, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        *requests.routes(),
        *messaging.routes(),
        *mailbox.routes(),
    ]
    for provider in providers:
        routes += provider.routes()
    app = Starlette(routes=routes, middleware=[Middleware(RequestLogMiddleware, log=requests)])
    app.state.secret_key = secret_key
    app.state.providers = {p.name: p for p in providers}
    app.state.payments = app.state.providers["stripe"]
    app.state.square = app.state.providers["square"]
    app.state.quickbooks = app.state.providers["quickbooks"]
    # Subscriptions given at start-up, as a test sets them through ``_sandbox/webhooks``
    if options is not None and options.square_webhook_url:
        app.state.square.hooks.url = options.square_webhook_url
    if options is not None and options.quickbooks_webhook_url:
        app.state.quickbooks.hooks.url = options.quickbooks_webhook_url
    app.state.messaging = messaging
    app.state.requests = requests
    app.state.mailbox = mailbox
    return app
