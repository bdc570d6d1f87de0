"""The API gateway application (port 3000). It owns nothing persistent, so it has no database.

Its own routes (health, metrics, docs, aggregation) go through FastAPI; every other /api/v1 path
is taken by the plain-ASGI proxy dispatch before FastAPI's router.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from tickettoken.gateway import aggregate
from tickettoken.gateway.balancing import parse_strategies
from tickettoken.gateway.cache import CACHE_PREFIX, ResponseCache
from tickettoken.gateway.discovery import (
    InstancePool,
    InstanceWatcher,
    default_instances,
    static_instances,
)
from tickettoken.gateway.edge import ProxyEdge
from tickettoken.gateway.edge_auth import EdgeAuth
from tickettoken.gateway.proxy import Proxy, ProxyDispatch, ProxyRoute
from tickettoken.gateway.ratelimit import RateLimiter
from tickettoken.gateway.resilience.breaker import (
    BREAKER_PREFIX,
    BreakerBoard,
    BreakerPolicy,
    BreakerState,
)
from tickettoken.gateway.resilience.timeouts import RouteTimeouts
from tickettoken.kit.app_factory import create_service_app
from tickettoken.kit.errors import ServiceUnavailable
from tickettoken.kit.kv import RedisStore
from tickettoken.kit.registration import ServiceRegistry, namespaced, registry_prefix
from tickettoken.kit.settings import Settings, get_settings

# The platform's own services: while one of their breakers is open the gateway is not ready.
REQUIRED_SERVICES = ("event", "integration", "queue")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    pool = InstancePool(static_instances(settings), defaults=default_instances(settings))
    # Shared state in Redis under the registry's namespace: platforms (and parallel test runs)
    # sharing one Redis must not share breakers, limits or cache generations.
    board = BreakerBoard(
        BreakerPolicy.from_settings(settings), prefix=namespaced(BREAKER_PREFIX, settings)
    )
    proxy = Proxy(
        pool,
        board,
        RouteTimeouts.from_settings(settings),
        parse_strategies(settings.gateway_balancing),
    )
    watcher = InstanceWatcher(pool, interval=settings.gateway_health_interval_seconds)
    limiter = RateLimiter.from_settings(settings)
    cache = ResponseCache(prefix=namespaced(CACHE_PREFIX, settings))

    async def open_proxy(app: FastAPI) -> None:
        kv = app.state.kv
        cache.store = kv
        if isinstance(kv, RedisStore):
            board.attach_redis(kv.client)
            limiter.attach_redis(kv.client)
            watcher.registry = ServiceRegistry(kv.client, prefix=registry_prefix(settings))
        await watcher.start()
        board.watch(pool.services())
        await board.start()
        await proxy.start()

    async def close_proxy(app: FastAPI) -> None:
        await proxy.close()
        await board.close()
        await watcher.close()

    async def breakers_closed(request: Request) -> None:
        open_ones = [
            name
            for name in REQUIRED_SERVICES
            if name in board.breakers and board.breakers[name].state is BreakerState.OPEN
        ]
        if open_ones:
            raise ServiceUnavailable(f"circuit open for {', '.join(open_ones)}")

    app = create_service_app(
        "gateway",
        title="TicketToken API gateway",
        settings=settings,
        use_database=False,
        on_startup=[open_proxy],
        on_shutdown=[close_proxy],
        routers=[aggregate.router],
    )
    app.state.readiness_checks["breakers"] = breakers_closed
    app.state.proxy = proxy
    app.state.rate_limiter = limiter
    app.state.breakers = board
    app.state.instances = pool
    app.state.edge_auth = edge_auth = EdgeAuth(settings)
    proxy_route = ProxyRoute(proxy, edge_auth, limiter, cache)
    own_prefixes = (aggregate.router.prefix + "/",)
    # Innermost user middleware: inside request ids and metrics, before FastAPI's router.
    app.user_middleware.append(
        Middleware(ProxyDispatch, route=proxy_route, own_prefixes=own_prefixes)
    )
    # The same work without FastAPI's and Starlette's layers, in one layer, for GatewayFront.
    app.state.lean_proxy = ProxyEdge(
        proxy_route, settings.max_request_body_bytes, metrics=settings.enable_metrics
    )
    return app


class GatewayFront:
    """What ``tickettoken serve gateway`` runs: proxied paths go to ``ProxyEdge`` (request id,
    metrics, body limit, errors) and the proxy route directly, everything else (and the lifespan)
    to the FastAPI app.

    FastAPI 0.165 wraps every application in its own body-limit and telemetry middleware, and
    Starlette adds its error middleware; on the proxy path those layers did nothing the chain
    above does not, and cost about a fifth of the gateway's time per request under profile.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.lean: ASGIApp = app.state.lean_proxy
        self.own_prefixes = (aggregate.router.prefix + "/",)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith("/api/v1/") and not path.startswith(self.own_prefixes):
                scope["app"] = self.app
                await self.lean(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_server_app() -> GatewayFront:
    """The uvicorn factory of the gateway (``services.py``): ``create_app`` behind its front."""
    return GatewayFront(create_app())
