"""The health checker beside the integration service's routes: a round every
``ROUND_EVERY_SECONDS`` that checks each connected integration once per ``CHECK_EVERY`` (on one
instance: the claim in ``repository.claim_due``) and forgets samples and hourly usage older than
the longest metrics period needs."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from tickettoken.integrations.connections.clients import app_clients
from tickettoken.integrations.health.checker import check_due
from tickettoken.integrations.health.repository import forget_old
from tickettoken.kit.db import Database
from tickettoken.kit.faults import database_unreachable
from tickettoken.kit.periodic import Periodic

ROUND_EVERY_SECONDS = 30.0
FIRST_ROUND_AFTER_SECONDS = 10.0
CHECK_EVERY = timedelta(minutes=5)
# The 30-day metrics need 30 days; a little more is kept.
KEEP = timedelta(days=35)


async def start_health_checker(app: FastAPI) -> None:
    database = getattr(app.state, "database", None)
    if not isinstance(database, Database):
        return
    clients = app_clients(app)

    async def round() -> None:
        await check_due(database.engine, clients, every=CHECK_EVERY)
        await forget_old(database.engine, older_than=KEEP)

    checker = Periodic(
        "integration health checker",
        round,
        ROUND_EVERY_SECONDS,
        first_after=FIRST_ROUND_AFTER_SECONDS,
        expected=database_unreachable,
    )
    app.state.health_checker = checker
    checker.start()


async def stop_health_checker(app: FastAPI) -> None:
    checker = getattr(app.state, "health_checker", None)
    if isinstance(checker, Periodic):
        await checker.stop()
