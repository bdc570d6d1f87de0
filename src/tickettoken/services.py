"""Every service, declared once: its port, its routers, what runs beside them, the job handlers
it provides and the job results it wants to hear about (docs/decisions/service-table.md).

Built from this table: each service's application (``build_app``, called by the
``tickettoken.<service>.app:create_app`` factories), the job registry of every
``tickettoken worker`` (``job_registry``: every handler and callback of every service, whatever
the environment says), and the processes ``tickettoken up`` starts. Nothing registers itself
on import: a handler or callback that is not listed here does not run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI

from tickettoken.events import models  # noqa: F401  (every table registered before any flush)
from tickettoken.events.change_listener import (
    start_event_change_listener,
    stop_event_change_listener,
)
from tickettoken.events.customers.routes import router as customers_router
from tickettoken.events.events.cancel_routes import router as event_cancel_router
from tickettoken.events.events.routes import router as events_router
from tickettoken.events.events.routes import venue_events_router
from tickettoken.events.notifications.routes import router as notifications_router
from tickettoken.events.orders import tasks as order_tasks
from tickettoken.events.orders.routes import router as orders_router
from tickettoken.events.pricing.routes import router as pricing_router
from tickettoken.events.reports.routes import router as reports_router
from tickettoken.events.reservations.routes import router as reservations_router
from tickettoken.events.reservations.sweeper import start_hold_sweeper, stop_hold_sweeper
from tickettoken.events.ticket_types.routes import router as ticket_types_router
from tickettoken.events.venues.routes import router as venues_router
from tickettoken.kit.app_factory import Hook, create_service_app
from tickettoken.kit.jobs import JobDeclaration, JobHandler, JobRegistry, OnCompleted, OnFailed
from tickettoken.kit.settings import SERVICE_PORTS, Settings
from tickettoken.queue import maintenance, shared_limiter
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
from tickettoken.queue.handlers.integration import provider_dispatcher
from tickettoken.queue.monitoring import monitor
from tickettoken.queue.routes import api_routers as queue_api_routers


@dataclass(frozen=True)
class BackgroundTask:
    """Something that lives beside a service's routes for the life of its process (a listener,
    a sweeper, the monitor) or a resource they share. Started in table order, stopped in reverse."""

    name: str
    start: Hook
    stop: Hook


@dataclass(frozen=True)
class Service:
    name: str
    title: str
    port: int
    factory: str  # "module:function" for uvicorn's --factory mode; it calls ``build_app``
    uses_database: bool = True
    routers: tuple[APIRouter, ...] = ()
    background: tuple[BackgroundTask, ...] = ()
    # What every worker runs: handlers this service provides, callbacks on results it wants.
    jobs: tuple[JobDeclaration, ...] = ()


EVENT = Service(
    name="event",
    title="TicketToken event service",
    port=SERVICE_PORTS["event"],
    factory="tickettoken.events.app:create_app",
    # Reservations first: routes are matched in order, and a reservation in a flash sale is the
    # request that must not wait for the matching of every catalogue route.
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
        BackgroundTask("hold sweeper", start_hold_sweeper, stop_hold_sweeper),
    ),
    jobs=(
        OnCompleted("payment-process", order_tasks.on_payment_completed),
        OnFailed("payment-process", order_tasks.on_payment_failed),
        OnFailed("refund-process", order_tasks.on_refund_failed),
    ),
)

QUEUE = Service(
    name="queue",
    title="TicketToken queue service",
    port=SERVICE_PORTS["queue"],
    factory="tickettoken.queue.app:create_app",
    routers=(*queue_api_routers(), dashboard_router),
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
    ),
)

INTEGRATION = Service(
    name="integration",
    title="TicketToken integration service",
    port=SERVICE_PORTS["integration"],
    factory="tickettoken.integrations.app:create_app",
    # Provider -> implementation maps: empty until the integration service implements providers;
    # a sync or webhook job for a provider not listed fails permanently and says so.
    jobs=(
        JobHandler("sync", provider_dispatcher("sync", {}), timeout=600),
        JobHandler("webhook", provider_dispatcher("webhook", {}), timeout=120),
    ),
)

GATEWAY = Service(
    name="gateway",
    title="TicketToken API gateway",
    port=SERVICE_PORTS["gateway"],
    factory="tickettoken.gateway.app:create_app",
    uses_database=False,  # it owns nothing persistent
)

SERVICES: dict[str, Service] = {s.name: s for s in (EVENT, INTEGRATION, QUEUE, GATEWAY)}


def build_app(name: str, settings: Settings | None = None) -> FastAPI:
    """The application of service ``name``: its routers and background tasks on the kit."""
    service = SERVICES[name]
    return create_service_app(
        service.name,
        title=service.title,
        routers=service.routers,
        settings=settings,
        use_database=service.uses_database,
        on_startup=[task.start for task in service.background],
        # create_service_app runs these in reverse: the last started stops first.
        on_shutdown=[task.stop for task in service.background],
    )


def job_registry(
    services: Iterable[Service] = SERVICES.values(), *, callbacks: bool = True
) -> JobRegistry:
    """Every job handler (and, unless ``callbacks`` is false, every result callback) the
    services declare. Tests of handlers alone leave the callbacks out."""
    declarations: Sequence[JobDeclaration] = [
        item
        for service in services
        for item in service.jobs
        if callbacks or isinstance(item, JobHandler)
    ]
    return JobRegistry().declare(declarations)
