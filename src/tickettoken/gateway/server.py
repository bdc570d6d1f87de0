"""How ``tickettoken serve gateway`` runs the gateway: granian (a Rust HTTP server) with uvloop.

Measured against uvicorn in front of the same upstream (``bench/gateway_proxy.py``,
``docs/decisions/gateway.md``): granian parses HTTP and writes sockets outside the interpreter,
which leaves the one core a process gets for the gateway's own work. Worker processes share
the listening socket. Client addresses are taken from ``X-Forwarded-For`` only when the peer is
a trusted proxy (``FORWARDED_ALLOW_IPS``, default 127.0.0.1, as uvicorn did).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Awaitable
from functools import lru_cache
from ipaddress import ip_address, ip_network
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from tickettoken.gateway.app import GatewayFront

GATEWAY_TARGET = "tickettoken.gateway.server:create_granian_app"


class TrustedProxyHeaders:
    """The client address (and scheme) a trusted proxy in front reports, as uvicorn's
    ``proxy_headers`` did: the right-most ``X-Forwarded-For`` entry that is not itself trusted."""

    def __init__(self, app: ASGIApp, trusted: str) -> None:
        self.app = app
        entries = [entry.strip() for entry in trusted.split(",") if entry.strip()]
        self.trust_all = "*" in entries
        self.networks = tuple(ip_network(entry, strict=False) for entry in entries if entry != "*")
        self.trusted = lru_cache(maxsize=1024)(self._trusted)

    def _trusted(self, host: str) -> bool:
        if self.trust_all:
            return True
        try:
            address = ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def apply(self, scope: Scope) -> None:
        """Take the client address (and scheme) from a trusted peer's forwarding headers."""
        client = scope.get("client")
        if scope["type"] == "http" and client and self.trusted(client[0]):
            forwarded_for: list[str] = []
            proto = None
            for name, value in scope["headers"]:
                if name == b"x-forwarded-for":
                    forwarded_for += [h.strip() for h in value.decode("latin-1").split(",")]
                elif name == b"x-forwarded-proto" and proto is None:
                    proto = value.decode("latin-1").strip()
            hosts = [host for host in forwarded_for if host]
            if hosts:
                host = next((h for h in reversed(hosts) if not self.trusted(h)), hosts[0])
                scope["client"] = (host, 0)
                if proto in ("http", "https"):
                    scope["scheme"] = proto

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.apply(scope)
        await self.app(scope, receive, send)


class GranianEntry:
    """What granian calls: the trusted-proxy headers and the front's dispatch
    (``GatewayFront``) in one plain call that returns the chosen application's coroutine.
    granian awaits whatever its callback returns, so the two layers cost no coroutine of their
    own per request (uvicorn wants a coroutine function, hence the async classes above)."""

    def __init__(self, front: GatewayFront, trusted: TrustedProxyHeaders) -> None:
        self.app = front.app
        self.lean = front.lean
        self.own_prefixes = front.own_prefixes
        self.trusted = trusted

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "http":
            self.trusted.apply(scope)
            path: str = scope["path"]
            if path.startswith("/api/v1/") and not path.startswith(self.own_prefixes):
                scope["app"] = self.app
                return self.lean(scope, receive, send)
        return self.app(scope, receive, send)


def create_granian_app() -> GranianEntry:
    """granian's factory: the gateway's front behind the trusted-proxy headers."""
    from tickettoken.gateway.app import create_server_app

    front = create_server_app()
    app = GranianEntry(
        front, TrustedProxyHeaders(front, os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"))
    )
    # Everything built at start-up stays: out of the collector's sight (gc.freeze), and young
    # collections 30 times rarer than the default 700 allocations. Measured: p99 at 64
    # connections 108-126 ms -> 25-47 ms, CPU per request -10 % (docs/decisions/gateway.md).
    gc.collect()
    gc.freeze()
    gc.set_threshold(int(os.environ.get("GATEWAY_GC_THRESHOLD", "20000")), 10, 10)
    return app


def serve_gateway(host: str, port: int, workers: int) -> None:
    from granian.constants import HTTPModes, Interfaces, Loops, RuntimeModes, TaskImpl
    from granian.log import LogLevels
    from granian.server import Server

    tuning: dict[str, object] = {}
    if task_impl := os.environ.get("GATEWAY_GRANIAN_TASK_IMPL"):
        tuning["task_impl"] = TaskImpl(task_impl)
    if runtime_mode := os.environ.get("GATEWAY_GRANIAN_RUNTIME_MODE"):
        tuning["runtime_mode"] = RuntimeModes(runtime_mode)
    if backpressure := os.environ.get("GATEWAY_GRANIAN_BACKPRESSURE"):
        tuning["backpressure"] = int(backpressure)
    if runtime_threads := os.environ.get("GATEWAY_GRANIAN_RUNTIME_THREADS"):
        tuning["runtime_threads"] = int(runtime_threads)
    Server(
        GATEWAY_TARGET,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        websockets=False,
        log_level=LogLevels.warning,
        log_access=False,
        factory=True,
        **tuning,  # type: ignore[arg-type]
    ).serve()
