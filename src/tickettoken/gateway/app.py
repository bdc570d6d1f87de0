"""The API gateway application (port 3000). It owns nothing persistent, so it has no database.

Its own routes (health, metrics, docs) come first; every other /api/v1 path goes through the
plain-ASGI proxy route, added last.
"""

from __future__ import annotations

from fastapi import FastAPI

from tickettoken.gateway.discovery import InstancePool, static_instances
from tickettoken.gateway.edge_auth import EdgeAuth
from tickettoken.gateway.proxy import Proxy, ProxyRoute
from tickettoken.gateway.resilience.breaker import BreakerBoard, BreakerPolicy
from tickettoken.gateway.resilience.timeouts import RouteTimeouts
from tickettoken.kit.app_factory import create_service_app
from tickettoken.kit.kv import RedisStore
from tickettoken.kit.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    pool = InstancePool(static_instances(settings))
    board = BreakerBoard(BreakerPolicy.from_settings(settings))
    proxy = Proxy(pool, board, RouteTimeouts.from_settings(settings))

    async def open_proxy(app: FastAPI) -> None:
        kv = app.state.kv
        if isinstance(kv, RedisStore):
            board.attach_redis(kv.client)
        board.watch(pool.services())
        await board.start()
        await proxy.start()

    async def close_proxy(app: FastAPI) -> None:
        await proxy.close()
        await board.close()

    app = create_service_app(
        "gateway",
        title="TicketToken API gateway",
        settings=settings,
        use_database=False,
        on_startup=[open_proxy],
        on_shutdown=[close_proxy],
    )
    app.state.proxy = proxy
    app.state.breakers = board
    app.router.routes.append(ProxyRoute(proxy, EdgeAuth(settings)))
    return app
