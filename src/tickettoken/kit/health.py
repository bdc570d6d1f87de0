"""Liveness and readiness routes shared by every service."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from tickettoken.kit.contracts import errors
from tickettoken.kit.errors import error_body

ReadinessCheck = Callable[[Request], Awaitable[None]]

router = APIRouter(tags=["health"])


class Liveness(BaseModel):
    status: Literal["ok"]
    service: str


class Readiness(BaseModel):
    status: Literal["ready"]
    service: str
    checks: dict[str, Literal["ok", "down"]]


@router.get("/health", summary="Liveness: the process answers (no I/O)", response_model=Liveness)
async def liveness(request: Request) -> dict[str, Any]:
    return {"status": "ok", "service": request.app.state.service_name}


async def _run_check(check: ReadinessCheck, request: Request, seconds: float) -> str | None:
    try:
        async with asyncio.timeout(seconds):
            await check(request)
    except Exception as exc:
        return type(exc).__name__
    return None


@router.get(
    "/health/ready",
    summary="Readiness: database and (if configured) Redis answer",
    response_model=Readiness,
    responses=errors(**{"503": "Not ready; the error envelope adds the state of each check"}),
)
async def readiness(request: Request) -> JSONResponse:
    checks: dict[str, ReadinessCheck] = request.app.state.readiness_checks
    names = list(checks)
    results = await asyncio.gather(*(_run_check(checks[n], request, 3.0) for n in names))
    status = {
        name: ("ok" if err is None else "down") for name, err in zip(names, results, strict=True)
    }
    if all(err is None for err in results):
        return JSONResponse(
            {"status": "ready", "service": request.app.state.service_name, "checks": status}
        )
    failed = [n for n, err in zip(names, results, strict=True) if err is not None]
    body = error_body(503, f"Not ready: {', '.join(failed)} unavailable", "SERVICE_UNAVAILABLE")
    body["checks"] = status
    return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})
