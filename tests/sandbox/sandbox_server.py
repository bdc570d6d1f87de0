"""The sandbox app served over real HTTP in this process, for the official SDKs (they speak HTTP,
not ASGI), and a recorder app that stands in for the platform's webhook receiver."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SECRET_KEY = "sk_test_sandbox"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` on a port the system picked; yields its base URL."""
    port = _port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for this
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class Receiver:
    """Records every request it gets (raw body and headers), answers 200."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, dict[str, str], str]] = []
        self.arrived = asyncio.Event()

    async def handle(self, request: Request) -> Response:
        if request.method == "HEAD":
            return Response()
        self.received.append((await request.body(), dict(request.headers), str(request.url)))
        self.arrived.set()
        return Response("ok")

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.handle, methods=["POST", "HEAD"])])
