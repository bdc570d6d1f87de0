"""The integration service application (port 3009); its parts are declared in
``tickettoken.services``."""

from __future__ import annotations

from fastapi import FastAPI

from tickettoken.kit.settings import Settings
from tickettoken.services import build_app


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app("integration", settings)
