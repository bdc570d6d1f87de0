"""The integration service application (port 3009)."""

from __future__ import annotations

from fastapi import FastAPI

from tickettoken.kit.app_factory import create_service_app
from tickettoken.kit.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        "integration", title="TicketToken integration service", settings=settings
    )
