"""The API gateway application (port 3000). It owns nothing persistent, so it has no database."""

from __future__ import annotations

from fastapi import FastAPI

from tickettoken.kit.settings import Settings
from tickettoken.services import build_app


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app("gateway", settings)
