"""``tickettoken vault rotate``: every sealed value re-encrypted under the newest key.

Run it after putting a new key first in ``ENCRYPTION_KEY`` (``"2:<new>,1:<old>"``) on every
instance; once it reports nothing left, the old key may be removed. Safe to re-run at any time.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.ext.asyncio import create_async_engine

from tickettoken.integrations.vault.rotate import RotationReport, count_due, rotate
from tickettoken.kit.settings import ConfigurationError, get_settings, to_asyncpg_url
from tickettoken.kit.vault import Vault, VaultError, vault_for

vault_app = typer.Typer(no_args_is_help=True, help="The token vault (secrets at rest).")
console = Console(stderr=True)


@vault_app.command("rotate")
def rotate_command(
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per transaction")] = 500,
) -> None:
    """Re-encrypt every token, key and secret under the newest ENCRYPTION_KEY version."""
    from tickettoken.kit.database_url import resolve_database_url

    settings = get_settings()
    try:
        vault = vault_for(settings)
    except ConfigurationError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    url = resolve_database_url(settings)
    try:
        report = asyncio.run(_run(url, vault, batch_size))
    except VaultError as exc:
        console.print(f"[red]a stored value does not decrypt with the configured keys: {exc}[/red]")
        raise typer.Exit(1) from exc
    busy = sum(report.busy.values())
    rewritten = sum(report.rewritten.values())
    console.print(
        f"[green]{rewritten} row(s) re-encrypted under key version {report.version}[/green]"
    )
    if busy:
        console.print(f"[yellow]{busy} row(s) were busy; run the command again[/yellow]")
        raise typer.Exit(1)


async def _run(url: str, vault: Vault, batch_size: int) -> RotationReport:
    engine = create_async_engine(to_asyncpg_url(url))
    try:
        due = await count_due(engine, vault)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as progress:
            tasks = {
                table: progress.add_task(f"{table} → v{vault.current_version}", total=count)
                for table, count in due.items()
            }
            return await rotate(
                engine,
                vault,
                batch_size=batch_size,
                progress=lambda table, done: progress.advance(tasks[table], done),
            )
    finally:
        await engine.dispose()
