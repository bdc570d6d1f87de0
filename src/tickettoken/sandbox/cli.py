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
) -> None:
    """Run local provider emulators: Stripe-compatible payments, SMTP, SMS, push, minting."""
    import uvicorn

    from tickettoken.sandbox.app import create_sandbox_app
    from tickettoken.sandbox.smtp import Mailbox, start_smtp

    mailbox = Mailbox()
    controller = start_smtp(mailbox, host, smtp_port)
    try:
        uvicorn.run(
            create_sandbox_app(mailbox),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
        )
    finally:
        controller.stop()
