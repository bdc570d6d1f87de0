"""``tickettoken sandbox``: run the provider emulators (HTTP and SMTP) in the foreground."""

from __future__ import annotations

from typing import Annotated

import typer


def sandbox(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="HTTP port of the payments/SMS/push/minting APIs")
    ] = 3090,
    smtp_port: Annotated[int, typer.Option(help="SMTP port")] = 2525,
    secret_key: Annotated[
        str | None,
        typer.Option(
            envvar="SANDBOX_SECRET_KEY",
            help="The sandbox's own secret key (payments API and fault injection);"
            " generated and shown once when not given",
        ),
    ] = None,
) -> None:
    """Run local provider emulators: Stripe-compatible payments, SMTP, SMS, push, minting."""
    import uvicorn

    from tickettoken.sandbox.app import create_sandbox_app
    from tickettoken.sandbox.common import new_secret_key
    from tickettoken.sandbox.smtp import Mailbox, start_smtp

    if not secret_key:
        secret_key = new_secret_key()
        typer.echo(f"Sandbox secret key (set STRIPE_SECRET_KEY to it): {secret_key}")
    mailbox = Mailbox()
    controller = start_smtp(mailbox, host, smtp_port)
    try:
        uvicorn.run(
            create_sandbox_app(mailbox, secret_key=secret_key),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
        )
    finally:
        controller.stop()
