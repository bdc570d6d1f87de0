"""``tickettoken worker``: run queue workers (several may run on several machines).

Each runs every job handler and result callback the service table declares
(``tickettoken.services``); only the database needs configuring.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer


def worker(
    queues: Annotated[
        str, typer.Option(help="Comma-separated queues: money,communication,background")
    ] = "money,communication,background",
    concurrency: Annotated[int, typer.Option(min=1, max=500, help="Jobs at once per queue")] = 10,
    # an environment variable too: `up` starts the worker (the end-to-end tests shorten it)
    lease: Annotated[
        float,
        typer.Option(
            min=1, envvar="WORKER_LEASE_SECONDS", help="Lease (visibility timeout), seconds"
        ),
    ] = 30.0,
    poll_interval: Annotated[float, typer.Option(min=0.05, help="Polling fallback, seconds")] = 1.0,
    shutdown_timeout: Annotated[
        float, typer.Option(help="Grace for running jobs on SIGTERM")
    ] = 25.0,
    metrics_port: Annotated[int | None, typer.Option(help="Serve Prometheus metrics here")] = None,
) -> None:
    """Claim and run jobs until SIGTERM or Ctrl-C (running jobs finish or are released)."""
    from prometheus_client import start_http_server

    from tickettoken.kit.database_url import resolve_database_url
    from tickettoken.kit.logging import configure_logging
    from tickettoken.kit.settings import get_settings
    from tickettoken.queue.worker import MissingHandlers, run_worker
    from tickettoken.services import job_registry

    settings = get_settings()
    configure_logging(settings.log_level, settings.effective_log_format, service="queue-worker")
    url = resolve_database_url(settings)
    if metrics_port:
        start_http_server(metrics_port, addr="127.0.0.1")
    names = [q.strip() for q in queues.split(",") if q.strip()]
    try:
        asyncio.run(
            run_worker(
                settings,
                url,
                registry=job_registry(),
                queues=names,
                concurrency=concurrency,
                lease=lease,
                poll_interval=poll_interval,
                shutdown_timeout=shutdown_timeout,
            )
        )
    except MissingHandlers as exc:
        typer.echo(f"worker refused to start: {exc}", err=True)
        raise typer.Exit(2) from exc


SANDBOX_PORT = 3090
SANDBOX_SMTP_PORT = 2525


def platform_processes(env: dict[str, str], host: str, port_offset: int = 0) -> list[Any]:
    """The processes ``tickettoken up`` adds for the queue: the provider sandbox and a worker.

    Providers that the environment does not configure point at the sandbox (``platform_env``:
    a provider counts as configured once its key or client id is set, so a configured Stripe,
    Square, Mailchimp or QuickBooks account is never replaced).
    """
    from tickettoken.kit.settings import SERVICE_PORTS
    from tickettoken.sandbox.common import new_secret_key
    from tickettoken.sandbox.platform_env import CONFIGURED_BY, platform_env
    from tickettoken.supervisor import ChildSpec, python_command

    show_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    port, smtp_port = SANDBOX_PORT + port_offset, SANDBOX_SMTP_PORT + port_offset
    sandbox_url = f"http://{show_host}:{port}"
    sandbox_key = env.setdefault("SANDBOX_SECRET_KEY", new_secret_key())
    env["SANDBOX_URL"] = sandbox_url  # `up` prints it; GET / there lists every provider
    # Where browsers and providers reach the platform: OAuth redirects and webhook deliveries.
    api_url = env.setdefault(
        "API_URL", f"http://{show_host}:{SERVICE_PORTS['gateway'] + port_offset}"
    )
    webhooks = f"{api_url.rstrip('/')}/api/v1/integrations/webhooks"
    for provider in ("stripe", "square", "quickbooks"):
        env.setdefault(f"SANDBOX_{provider.upper()}_WEBHOOK_URL", f"{webhooks}/{provider}")
    for provider, values in platform_env(sandbox_url, sandbox_key).items():
        if not env.get(CONFIGURED_BY[provider]):
            env.update(values)
    env.setdefault("SMS_API_URL", f"{sandbox_url}/sms")
    env.setdefault("PUSH_API_URL", f"{sandbox_url}/push")
    env.setdefault("MINTING_SERVICE_URL", f"{sandbox_url}/minting")
    if not env.get("SMTP_HOST"):
        env["SMTP_HOST"], env["SMTP_PORT"] = show_host, str(smtp_port)
    sandbox_argv = python_command(
        "sandbox", "--host", host, "--port", str(port), "--smtp-port", str(smtp_port)
    )
    return [
        ChildSpec("sandbox", sandbox_argv, health_url=f"{sandbox_url}/health"),
        ChildSpec("worker", python_command("worker")),
    ]
