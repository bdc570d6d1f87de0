"""A real HTTP upstream for the gateway tests: it reports what it received, echoes bytes, is slow
or fails on demand, and counts calls. Runs in the test's event loop (``serving``) or as its own
process (``python tests/gateway/gateway_upstream.py PORT NAME``) when a test kills it.

- ``.../echo``: JSON of what arrived (method, raw path, query, headers, body length and sha256).
- ``.../bytes``: the request body back, byte for byte, with the request's content type.
- ``.../slow?seconds=S``: answers after S seconds.
- ``.../status/CODE``: answers CODE.
- ``/__calls``: how many requests each path received.
- ``POST /__mode`` ``{"fail_status": 503, "fail_every": 1, "delay": 0}``: from now on every
  ``fail_every``-th request (1: all, 0: none) answers ``fail_status``; every request waits
  ``delay`` seconds first; ``"ready": 0`` makes ``/health/ready`` answer 503;
  ``"cache_control": "public, max-age=60"`` is sent on every echo answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def upstream_app(name: str) -> Starlette:
    calls: Counter[str] = Counter()
    mode: dict[str, Any] = {
        "fail_status": 503,
        "fail_every": 0,
        "delay": 0,
        "seen": 0,
        "ready": 1,
        "cache_control": "",
    }

    async def counts(_: Request) -> JSONResponse:
        return JSONResponse(dict(calls))

    async def set_mode(request: Request) -> JSONResponse:
        mode.update(await request.json())
        mode["seen"] = 0
        return JSONResponse(mode)

    async def ready(_: Request) -> JSONResponse:
        if not mode["ready"]:
            return JSONResponse({"status": "not ready", "instance": name}, 503)
        return JSONResponse({"status": "ready", "instance": name})

    async def anything(request: Request) -> Response:
        path = request.url.path
        calls[path] += 1
        body = await request.body()
        if mode["delay"]:
            await asyncio.sleep(mode["delay"])
        mode["seen"] += 1
        if mode["fail_every"] and mode["seen"] % mode["fail_every"] == 0:
            return JSONResponse({"instance": name, "failed": True}, int(mode["fail_status"]))
        if path.endswith("/bytes"):
            return Response(
                body, media_type=request.headers.get("content-type", "application/octet-stream")
            )
        if path.endswith("/slow"):
            await asyncio.sleep(float(request.query_params.get("seconds", "1")))
        last = path.rstrip("/").rsplit("/", 2)
        if len(last) == 3 and last[1] == "status":
            return JSONResponse({"instance": name, "status": int(last[2])}, int(last[2]))
        return JSONResponse(
            {
                "instance": name,
                "method": request.method,
                "raw_path": request.scope["raw_path"].decode("latin-1"),
                "query": request.scope["query_string"].decode("latin-1"),
                "headers": [
                    [k.decode("latin-1"), v.decode("latin-1")] for k, v in request.scope["headers"]
                ],
                "body_length": len(body),
                "body_sha256": hashlib.sha256(body).hexdigest(),
            },
            headers={"X-Upstream-Instance": name}
            | ({"Cache-Control": mode["cache_control"]} if mode["cache_control"] else {}),
        )

    return Starlette(
        routes=[
            Route("/__calls", counts),
            Route("/__mode", set_mode, methods=["POST"]),
            Route("/health/ready", ready),
            Route(
                "/{path:path}",
                anything,
                methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            ),
        ]
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serving(name: str = "up") -> AsyncIterator[str]:
    """Serve an upstream on a free port in this event loop; yields its base URL."""
    async with serving_app(upstream_app(name)) as url:
        yield url


@asynccontextmanager
async def serving_app(app: Any) -> AsyncIterator[str]:
    """Serve any ASGI app on a free port in this event loop; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


if __name__ == "__main__":
    uvicorn.run(
        upstream_app(sys.argv[2]), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning"
    )


@asynccontextmanager
async def upstreams(*names: str) -> AsyncIterator[list[str]]:
    """Serve one upstream per name, each on its own free port; yields their base URLs."""
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(serving(name)) for name in names]


async def set_mode(url: str, **mode: Any) -> None:
    """Switch a served upstream's fault mode (its ``/__mode`` endpoint)."""
    async with httpx.AsyncClient() as client:
        (await client.post(url + "/__mode", json=mode)).raise_for_status()


async def calls(url: str, path: str) -> int:
    """How many requests a served upstream has answered on ``path``."""
    async with httpx.AsyncClient() as client:
        return int((await client.get(url + "/__calls")).json().get(path, 0))
