"""The queue service application (port 3011).

Its routers (``/api/v1/queue`` and the dashboard page) and background tasks (the provider rate
limiter the routes and the monitor share, the monitor, the daily maintenance schedule) are
declared in ``tickettoken.services``. Jobs are run by ``tickettoken worker``, not by this process.
"""

from __future__ import annotations

from fastapi import FastAPI

from tickettoken.kit.settings import Settings
from tickettoken.queue.monitoring.config import MonitorConfig
from tickettoken.services import build_app


def create_app(
    settings: Settings | None = None, monitor_config: MonitorConfig | None = None
) -> FastAPI:
    app = build_app("queue", settings)
    app.state.monitor_config = monitor_config or MonitorConfig()
    return app
