"""``tickettoken sandbox``: run the provider emulators (HTTP and SMTP) in the foreground.

``GET /`` on the HTTP port lists every provider's base URLs and webhook signing secrets.
"""

from __future__ import annotations

from typing import Annotated

import typer


def sandbox(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port of every provider API")] = 3090,
    smtp_port: Annotated[int, typer.Option(help="SMTP port")] = 2525,
    secret_key: Annotated[
        str | None,
        typer.Option(
            envvar="SANDBOX_SECRET_KEY",
            help="The sandbox's own secret key (Stripe's secret key and the test controls);"
            " generated and shown once when not given",
        ),
    ] = None,
    stripe_webhook_url: Annotated[
        str | None,
        typer.Option(
            envvar="SANDBOX_STRIPE_WEBHOOK_URL",
            help="Deliver every Stripe event here, signed (secret: GET / on the sandbox)",
        ),
    ] = None,
    stripe_webhook_secret: Annotated[
        str | None,
        typer.Option(
            envvar="SANDBOX_STRIPE_WEBHOOK_SECRET",
            help="The whsec_ secret for --stripe-webhook-url (generated when not given)",
        ),
    ] = None,
    square_webhook_url: Annotated[
        str | None,
        typer.Option(
            envvar="SANDBOX_SQUARE_WEBHOOK_URL",
            help="The Square webhook subscription's URL (deliveries are signed over it)",
        ),
    ] = None,
    quickbooks_webhook_url: Annotated[
        str | None,
        typer.Option(
            envvar="SANDBOX_QUICKBOOKS_WEBHOOK_URL", help="Deliver QuickBooks notifications here"
        ),
    ] = None,
    stripe_rate: Annotated[
        float, typer.Option(help="Stripe requests a second per key (0: no limit)")
    ] = 25.0,
    stripe_burst: Annotated[float, typer.Option(help="Stripe's token bucket size per key")] = 50.0,
    oauth_redirect_uri: Annotated[
        list[str] | None,
        typer.Option(
            help="A registered OAuth redirect URI (repeatable); none: any the request names"
        ),
    ] = None,
) -> None:
    """Run local provider emulators: Stripe, Mailchimp, Mandrill, SMTP, SMS, push, minting."""
    import uvicorn

    from tickettoken.sandbox.app import SandboxOptions, create_sandbox_app
    from tickettoken.sandbox.common import new_secret_key
    from tickettoken.sandbox.smtp import Mailbox, start_smtp

    if not secret_key:
        secret_key = new_secret_key()
        typer.echo(f"Sandbox secret key (set STRIPE_SECRET_KEY to it): {secret_key}")
    options = SandboxOptions(
        stripe_rate=stripe_rate,
        stripe_burst=stripe_burst,
        stripe_webhook_url=stripe_webhook_url,
        stripe_webhook_secret=stripe_webhook_secret,
        square_webhook_url=square_webhook_url,
        quickbooks_webhook_url=quickbooks_webhook_url,
        oauth_redirect_uris=list(oauth_redirect_uri or []),
    )
    mailbox = Mailbox()
    controller = start_smtp(mailbox, host, smtp_port)
    try:
        uvicorn.run(
            create_sandbox_app(mailbox, secret_key=secret_key, options=options),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
        )
    finally:
        controller.stop()
