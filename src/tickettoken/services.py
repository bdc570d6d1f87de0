"""Every service, declared once: its port, its routers, what runs beside them, the job handlers
it provides and the job results it wants to hear about (docs/decisions/service-table.md).

Built from this table: each service's application (``build_app``, called by the
``tickettoken.<service>.app:create_app`` factories), the job registry of every
``tickettoken worker`` (``job_registry``: every handler and callback of every service, whatever
the environment says), and the processes ``tickettoken up`` starts. Nothing registers itself
on import: a handler or callback that is not listed here does not run.

Each service's parts are imported when they are needed (``Service.parts``): the gateway
process does not load the event service's code, and ``tickettoken up`` reads names and ports only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI

from tickettoken.kit.app_factory import Hook, create_service_app
from tickettoken.kit.jobs import JobDeclaration, JobHandler, OnCompleted, OnFailed
from tickettoken.kit.settings import SERVICE_PORTS, Settings

if TYPE_CHECKING:
    from tickettoken.queue.engine import JobRegistry


@dataclass(frozen=True)
class BackgroundTask:
    """Something that lives beside a service's routes for the life of its process (a listener,
    a sweeper, the monitor) or a resource they share. Started in table order, stopped in reverse."""

    name: str
    start: Hook
    stop: Hook


@dataclass(frozen=True)
class ServiceParts:
    routers: tuple[APIRouter, ...] = ()
    background: tuple[BackgroundTask, ...] = ()
    # What every worker runs: handlers this service provides, callbacks on results it wants.
    jobs: tuple[JobDeclaration, ...] = ()


@dataclass(frozen=True)
class Service:
    name: str
    title: str
    port: int
    factory: str  # "module:function" for uvicorn's --factory mode; it calls ``build_app``
    parts: Callable[[], ServiceParts]
    uses_database: bool = True


def event_parts() -> ServiceParts:
    from tickettoken.events import models  # noqa: F401  (every table registered before a flush)
    from tickettoken.events.box_office import tasks as box_office_tasks
    from tickettoken.events.change_listener import (
        start_event_change_listener,
        stop_event_change_listener,
    )
    from tickettoken.events.customers import tasks as customer_tasks
    from tickettoken.events.customers.routes import router as customers_router
    from tickettoken.events.events.routes import router as events_router
    from tickettoken.events.events.routes import venue_events_router
    from tickettoken.events.notifications.routes import router as notifications_router
    from tickettoken.events.orders import tasks as order_tasks
    from tickettoken.events.orders.cancel_routes import router as event_cancel_router
    from tickettoken.events.orders.payment_results import cancel_unpaid_orders
    from tickettoken.events.orders.routes import router as orders_router
    from tickettoken.events.pricing.routes import router as pricing_router
    from tickettoken.events.reports.routes import router as reports_router
    from tickettoken.events.reservations.routes import router as reservations_router
    from tickettoken.events.reservations.sweeper import start_hold_sweeper, stop_hold_sweeper
    from tickettoken.events.ticket_types.routes import router as ticket_types_router
    from tickettoken.events.venues.routes import router as venues_router

    return ServiceParts(
        # Reservations first: routes are matched in order, and a reservation in a flash sale is
        # the request that must not wait for the matching of every catalogue route.
        routers=(
            reservations_router,
            venues_router,
            venue_events_router,
            events_router,
            event_cancel_router,
            ticket_types_router,
            pricing_router,
            orders_router,
            customers_router,
            reports_router,
            notifications_router,
        ),
        background=(
            BackgroundTask(
                "event change listener", start_event_change_listener, stop_event_change_listener
            ),
            BackgroundTask(
                "hold sweeper",
                functools.partial(start_hold_sweeper, cancel_unpaid_orders=cancel_unpaid_orders),
                stop_hold_sweeper,
            ),
        ),
        jobs=(
            OnCompleted("payment-process", order_tasks.on_payment_completed),
            OnFailed("payment-process", order_tasks.on_payment_failed),
            OnCompleted("refund-process", order_tasks.on_refund_completed),
            OnFailed("refund-process", order_tasks.on_refund_failed),
            OnCompleted("payout-process", order_tasks.on_payout_completed),
            OnFailed("payout-process", order_tasks.on_payout_failed),
            # Seats sold at a box office (Square), enqueued by the integration's webhook job.
            JobHandler("box-office-sale", box_office_tasks.process_box_office_sale, timeout=60),
            JobHandler("box-office-return", box_office_tasks.process_box_office_return, timeout=60),
            # Webhook effects on orders and customers, enqueued by the integration's webhook job.
            JobHandler("provider-refund", order_tasks.process_provider_refund, timeout=60),
            JobHandler(
                "marketing-unsubscribe",
                customer_tasks.process_marketing_unsubscribe,
                timeout=60,
            ),
        ),
    )


def queue_parts() -> ServiceParts:
    from tickettoken.queue import maintenance, shared_limiter
    from tickettoken.queue.alerts import box_office as box_office_alerts
    from tickettoken.queue.dashboard.routes import router as dashboard_router
    from tickettoken.queue.handlers import (
        analytics,
        cleanup,
        email,
        nft,
        noop,
        payments,
        push,
        reports,
        sms,
    )
    from tickettoken.queue.monitoring import monitor
    from tickettoken.queue.routers import api_routers

    return ServiceParts(
        routers=(*api_routers(), dashboard_router),
        background=(
            BackgroundTask(
                "provider rate limiter",
                shared_limiter.open_rate_limiter,
                shared_limiter.close_rate_limiter,
            ),
            BackgroundTask("monitor", monitor.start, monitor.stop),
            BackgroundTask("maintenance schedule", maintenance.start, maintenance.stop),
        ),
        jobs=(
            JobHandler("payment-process", payments.process_payment, timeout=60),
            JobHandler("refund-process", payments.process_refund, timeout=60),
            JobHandler("payout-process", payments.process_payout, timeout=60),
            JobHandler("nft-mint", nft.mint_ticket, timeout=150),
            JobHandler("send-email", email.send_email, timeout=60),
            JobHandler("send-sms", sms.send_sms, timeout=30),
            JobHandler("send-push", push.send_push, timeout=30),
            JobHandler("analytics-track", analytics.track_event, timeout=30),
            JobHandler("cleanup-old-data", cleanup.cleanup_old_data, timeout=600),
            JobHandler("generate-report", reports.generate_report, timeout=300),
            JobHandler("noop", noop.noop, timeout=10),
            # The event service's box-office sale that found too few seats left: an alert.
            OnCompleted("box-office-sale", box_office_alerts.on_box_office_sale_completed),
        ),
    )


def integration_parts() -> ServiceParts:
    from tickettoken.integrations import models  # noqa: F401  (every table registered)
    from tickettoken.integrations.admin.routes import router as integration_admin_router
    from tickettoken.integrations.connections import tasks as connection_tasks
    from tickettoken.integrations.connections.routes import oauth_router
    from tickettoken.integrations.connections.routes import router as connections_router
    from tickettoken.integrations.costs import tasks as cost_tasks
    from tickettoken.integrations.health import tasks as health_tasks
    from tickettoken.integrations.health.routes import router as health_router
    from tickettoken.integrations.mappings.routes import router as mappings_router
    from tickettoken.integrations.sync import scheduler as sync_scheduler
    from tickettoken.integrations.sync.engine import SYNC_IMPLEMENTATIONS, on_sync_failed
    from tickettoken.integrations.sync.routes import router as sync_router
    from tickettoken.integrations.webhooks import routes as webhook_routes
    from tickettoken.integrations.webhooks import tasks as webhook_tasks
    from tickettoken.queue.handlers.integration import provider_dispatcher

    # Provider -> implementation maps: a sync or webhook job for a provider not listed fails
    # permanently, saying so.
    return ServiceParts(
        # The public OAuth callback and webhooks, then health, admin, mappings and sync, all
        # before the ``/{provider}...`` routes: their first segment is not a provider.
        routers=(
            oauth_router,
            webhook_routes.public_router,
            webhook_routes.router,
            health_router,
            integration_admin_router,
            mappings_router,
            sync_router,
            connections_router,
        ),
        background=(
            # Before the clients, which take it as their call observer; stopped after them.
            BackgroundTask(
                "provider usage meter", cost_tasks.start_usage_meter, cost_tasks.stop_usage_meter
            ),
            BackgroundTask(
                "provider clients",
                connection_tasks.open_connections,
                connection_tasks.close_connections,
            ),
            BackgroundTask(
                "oauth token refresher",
                connection_tasks.start_token_refresher,
                connection_tasks.stop_token_refresher,
            ),
            BackgroundTask(
                "integration health checker",
                health_tasks.start_health_checker,
                health_tasks.stop_health_checker,
            ),
            BackgroundTask(
                "integration sync scheduler",
                sync_scheduler.start_sync_scheduler,
                sync_scheduler.stop_sync_scheduler,
            ),
        ),
        jobs=(
            JobHandler("sync", provider_dispatcher("sync", SYNC_IMPLEMENTATIONS), timeout=600),
            OnFailed("sync", on_sync_failed),
            JobHandler(
                "webhook",
                provider_dispatcher("webhook", webhook_tasks.implementations()),
                timeout=120,
            ),
        ),
    )


def gateway_parts() -> ServiceParts:
    """Nothing for workers; its application is assembled by ``tickettoken.gateway.app``
    (the proxy, breakers, limiter and cache share one state per application)."""
    return ServiceParts()


SERVICES: dict[str, Service] = {
    service.name: service
    for service in (
        Service(
            "event",
            "TicketToken event service",
            SERVICE_PORTS["event"],
            "tickettoken.events.app:create_app",
            event_parts,
        ),
        Service(
            "integration",
            "TicketToken integration service",
            SERVICE_PORTS["integration"],
            "tickettoken.integrations.app:create_app",
            integration_parts,
        ),
        Service(
            "queue",
            "TicketToken queue service",
            SERVICE_PORTS["queue"],
            "tickettoken.queue.app:create_app",
            queue_parts,
        ),
        Service(
            "gateway",
            "TicketToken API gateway",
            SERVICE_PORTS["gateway"],
            "tickettoken.gateway.app:create_server_app",
            gateway_parts,
            uses_database=False,  # it owns nothing persistent
        ),
    )
}


def build_app(name: str, settings: Settings | None = None) -> FastAPI:
    """The application of service ``name``: its routers and background tasks on the kit."""
    service = SERVICES[name]
    parts = service.parts()
    return create_service_app(
        service.name,
        title=service.title,
        routers=parts.routers,
        settings=settings,
        use_database=service.uses_database,
        on_startup=[task.start for task in parts.background],
        # create_service_app runs these in reverse: the last started stops first.
        on_shutdown=[task.stop for task in parts.background],
    )


def job_registry(
    services: Iterable[Service] = SERVICES.values(), *, callbacks: bool = True
) -> JobRegistry:
    """Every job handler (and, unless ``callbacks`` is false, every result callback) the
    services declare. Tests of handlers alone leave the callbacks out."""
    from tickettoken.queue.engine import JobRegistry  # the worker's side, loaded when used

    return JobRegistry().declare(
        item
        for service in services
        for item in service.parts().jobs
        if callbacks or isinstance(item, JobHandler)
    )
