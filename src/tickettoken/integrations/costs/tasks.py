"""The usage meter beside the integration service's routes: started before the provider clients
(which take it as their call observer), stopped after them with a final flush."""

from __future__ import annotations

from fastapi import FastAPI

from tickettoken.integrations.costs.meter import UsageMeter
from tickettoken.kit.db import Database


async def start_usage_meter(app: FastAPI) -> None:
    database = getattr(app.state, "database", None)
    if not isinstance(database, Database):
        return
    meter = UsageMeter(database.engine)
    app.state.usage_meter = meter
    app.state.provider_call_observer = meter  # read by connections.tasks.open_connections
    meter.start()


async def stop_usage_meter(app: FastAPI) -> None:
    meter = getattr(app.state, "usage_meter", None)
    if isinstance(meter, UsageMeter):
        await meter.stop()
    app.state.provider_call_observer = None
