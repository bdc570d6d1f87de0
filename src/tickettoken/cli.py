"""The ``tickettoken`` command: up | serve SERVICE | migrate | token | vault rotate | ..."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tickettoken.kit.settings import ConfigurationError, get_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
err = Console(stderr=True)


def _database_url(migrate_embedded: bool) -> tuple[str, bool]:
    """The database URL to use and whether it is the embedded server."""
    from tickettoken.kit.database_url import resolve_database_url

    settings = get_settings()
    embedded = not settings.database_configured
    url = resolve_database_url(settings)
    if embedded and migrate_embedded:
        from tickettoken.migrations.runner import upgrade_to_head

        upgrade_to_head(url)
    return url, embedded


@app.command()
def migrate() -> None:
    """Apply every database migration (the embedded server is started if none is configured)."""
    from tickettoken.migrations.runner import upgrade_to_head

    url, _ = _database_url(migrate_embedded=False)
    upgrade_to_head(url)
    err.print("[green]database is up to date[/green]")


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="event | queue | integration | gateway")],
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port (default: the service's own)")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes for this service")] = 1,
) -> None:
    """Run one service alone (several instances can run behind the gateway)."""
    import uvicorn

    from tickettoken.services import SERVICES

    spec = SERVICES.get(service)
    if spec is None:
        raise typer.BadParameter(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    settings = get_settings()
    try:
        settings.validate_for_startup()
    except ConfigurationError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc
    bound_port = port or settings.port or spec.port
    if spec.uses_database and not settings.database_configured:
        url, _ = _database_url(migrate_embedded=True)
        os.environ["DATABASE_URL"] = url
        get_settings.cache_clear()
    if not settings.service_advertise_url:
        # With Redis configured the instance registers this URL for the gateways to find.
        from tickettoken.kit.registration import advertise_url

        os.environ["SERVICE_ADVERTISE_URL"] = advertise_url(host, bound_port)
        get_settings.cache_clear()
    if service == "gateway" and os.environ.get("GATEWAY_SERVER", "granian") == "granian":
        # The gateway's hot path measured faster under granian (docs/decisions/gateway.md).
        from tickettoken.gateway.server import serve_gateway

        serve_gateway(host, bound_port, workers)
        return
    uvicorn.run(
        spec.factory,
        factory=True,
        host=host,
        port=bound_port,
        workers=workers,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
        server_header=False,
    )


@app.command()
def up(
    host: Annotated[str, typer.Option(help="Interface the services bind")] = "127.0.0.1",
    port_offset: Annotated[
        int, typer.Option(help="Add this to every service port (to run a second copy)")
    ] = 0,
    demo: Annotated[bool, typer.Option("--demo", help="Load the demo data set first")] = False,
) -> None:
    """Start the whole platform on this machine and keep it running until Ctrl-C."""
    from tickettoken.kit.auth import jwt_secret
    from tickettoken.kit.embedded_pg import EmbeddedPostgres
    from tickettoken.services import SERVICES
    from tickettoken.supervisor import ChildSpec, Supervisor, python_command

    settings = get_settings()
    try:
        settings.validate_for_startup()
    except ConfigurationError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc
    embedded: EmbeddedPostgres | None = None
    if settings.database_configured:
        url = settings.sqlalchemy_url()
        assert url is not None
    else:
        embedded = EmbeddedPostgres(Path(settings.embedded_pg_dir))
        err.print("starting the embedded PostgreSQL ...")
        url = embedded.start()
    from tickettoken.migrations.runner import upgrade_to_head

    err.print("applying migrations ...")
    upgrade_to_head(url)
    if demo:
        from tickettoken.demo.seed import report_seed, seed_demo_database

        report_seed(seed_demo_database(url))

    env = dict(os.environ)
    env["DATABASE_URL"] = url
    env["JWT_SECRET"] = jwt_secret(settings)
    env["TICKETTOKEN_HOME"] = str(
        Path(os.environ.get("TICKETTOKEN_HOME", ".tickettoken")).resolve()
    )
    show_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    urls = {
        name: f"http://{show_host}:{spec.port + port_offset}" for name, spec in SERVICES.items()
    }
    for name, base in urls.items():
        env.setdefault(f"{name.upper()}_SERVICE_URL", base)
    specs = []
    for spec in SERVICES.values():
        argv = python_command(
            "serve", spec.name, "--host", host, "--port", str(spec.port + port_offset)
        )
        specs.append(ChildSpec(spec.name, argv, health_url=f"{urls[spec.name]}/health"))
    from tickettoken.queue.worker_cli import platform_processes

    specs += platform_processes(env, host, port_offset)
    supervisor = Supervisor(specs, env, log=lambda msg: err.print(f"[dim]{msg}[/dim]"))
    signal.signal(signal.SIGINT, supervisor.request_stop)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    try:
        supervisor.start_all()
        healthy = supervisor.wait_healthy(timeout=60)
        table = Table(
            title="TicketToken is running" if healthy else "TicketToken (not all healthy)"
        )
        table.add_column("service")
        table.add_column("url")
        table.add_column("docs")
        for name, base in urls.items():
            table.add_row(name, base, f"{base}/docs")
        if env.get("SANDBOX_URL"):
            table.add_row("sandbox", env["SANDBOX_URL"], f"{env['SANDBOX_URL']}/ (providers)")
        Console().print(table)
        Console().print(f"database: {url.split('@')[-1]}   Ctrl-C stops everything")
        supervisor.run_forever()
    finally:
        err.print("stopping ...")
        supervisor.stop_all()
        if embedded is not None:
            embedded.stop()


@app.command()
def token(
    role: Annotated[
        str,
        typer.Option(help="admin | venue_admin | venue_staff | customer | monitoring | service"),
    ],
    venue: Annotated[list[str] | None, typer.Option(help="Venue id (repeatable)")] = None,
    sub: Annotated[str | None, typer.Option(help="Subject (user id)")] = None,
    expires: Annotated[str | None, typer.Option(help="Lifetime such as 15m, 1h, 7d")] = None,
) -> None:
    """Mint a development token and print it alone on standard output."""
    from tickettoken.kit.auth import Role, mint_token
    from tickettoken.kit.settings import parse_duration

    try:
        parsed_role = Role(role)
    except ValueError as exc:
        raise typer.BadParameter(f"unknown role {role!r}") from exc
    lifetime = parse_duration(expires) if expires else None
    try:
        minted = mint_token(
            role=parsed_role, sub=sub, venue_ids=venue or (), lifetime_seconds=lifetime
        )
    except ValueError as exc:
        raise typer.BadParameter("--venue takes venue ids (UUIDs)") from exc
    typer.echo(minted)


def _register_queue_commands() -> None:
    from tickettoken.queue.worker_cli import worker
    from tickettoken.sandbox.cli import sandbox

    app.command(name="worker")(worker)
    app.command(name="sandbox")(sandbox)


_register_queue_commands()


def _register_event_commands() -> None:
    from tickettoken.demo.seed import seed

    app.command(name="seed")(seed)


_register_event_commands()


def _register_integration_commands() -> None:
    from tickettoken.integrations.vault.cli import vault_app

    app.add_typer(vault_app, name="vault")


_register_integration_commands()


def main() -> None:
    app()
