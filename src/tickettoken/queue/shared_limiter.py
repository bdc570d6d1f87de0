"""The queue service process's provider rate limiter, opened at start-up and closed at shutdown:
the rate-limit routes and the monitor read it from ``app.state.rate_limiter``."""

from __future__ import annotations

from fastapi import FastAPI

from tickettoken.kit.provider_limits import build_rate_limiter


async def open_rate_limiter(app: FastAPI) -> None:
    # Without Redis the limiter lives in the database the workers share (the embedded one too).
    app.state.rate_limiter = await build_rate_limiter(
        app.state.settings, database_url=app.state.database.url
    )


async def close_rate_limiter(app: FastAPI) -> None:
    await app.state.rate_limiter.aclose()
