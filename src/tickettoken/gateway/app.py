"""The API gateway application (port 3000). It owns nothing persistent, so it has no database."""

from __future__ import annotations

from fastapi import FastAPI

from tickettoken.kit.app_factory import create_service_app
from tickettoken.kit.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        "gateway", title="TicketToken API gateway", settings=settings, use_database=False
    )
