"""The health checker beside the integration service's routes: a round every
``ROUND_EVERY_SECONDS`` that checks each connected integration once per ``CHECK_EVERY``."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from tickettoken.integrations.connections.clients import app_clients
from tickettoken.integrations.health.checker import check_due
from tickettoken.kit.db import Database
from tickettoken.kit.faults import database_unreachable
from tickettoken.kit.periodic import Periodic

ROUND_EVERY_SECONDS = 30.0
CHECK_EVERY = timedelta(minutes=5)


async def start_health_checker(app: FastAPI) -> None:
    database = getattr(app.state, "database", None)
    if not isinstance(database, Database):
        return
    clients = app_clients(app)

    async def round() -> None:
        await check_due(database.engine, clients, every=CHECK_EVERY)

    checker = Periodic(
        "integration health checker",
        round,
        ROUND_EVERY_SECONDS,
        first_after=10.0,
        expected=database_unreachable,
    )
    app.state.health_checker = checker
    checker.start()


async def stop_health_checker(app: FastAPI) -> None:
    checker = getattr(app.state, "health_checker", None)
    if isinstance(checker, Periodic):
        await checker.stop()
