"""The queue service application (port 3011).

Routes under ``/api/v1/queue`` (``tickettoken.queue.routes``), the dashboard page, and two
start-up hooks: the process's provider rate limiter (for the rate-limit routes and metrics), the
background monitor (gauges, ``queue_metrics`` samples, alerts) and the daily maintenance
schedule (``maintenance``). Jobs are run by
``tickettoken worker``, not by this process.
"""

from __future__ import annotations

from fastapi import FastAPI

from tickettoken.kit.app_factory import create_service_app
from tickettoken.kit.settings import Settings, get_settings
from tickettoken.queue import maintenance
from tickettoken.queue.dashboard.routes import router as dashboard_router
from tickettoken.queue.monitoring import monitor
from tickettoken.queue.monitoring.config import MonitorConfig
from tickettoken.queue.ratelimit import build_rate_limiter
from tickettoken.queue.routes import api_routers


def create_app(
    settings: Settings | None = None, monitor_config: MonitorConfig | None = None
) -> FastAPI:
    settings = settings or get_settings()
    config = monitor_config or MonitorConfig()

    async def open_limiter(app: FastAPI) -> None:
        app.state.monitor_config = config
        # Without Redis the limiter lives in the database the workers share.
        app.state.rate_limiter = await build_rate_limiter(
            settings, database_url=app.state.database.url
        )

    async def close_limiter(app: FastAPI) -> None:
        await app.state.rate_limiter.aclose()

    return create_service_app(
        "queue",
        title="TicketToken queue service",
        settings=settings,
        routers=[*api_routers(), dashboard_router],
        on_startup=[open_limiter, monitor.start, maintenance.start],
        on_shutdown=[monitor.stop, maintenance.stop, close_limiter],
    )
