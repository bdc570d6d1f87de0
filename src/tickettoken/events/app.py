"""The event service application (port 3003)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from tickettoken.events import models  # noqa: F401  (registers every table before any flush)
from tickettoken.events.change_listener import (
    start_event_change_listener,
    stop_event_change_listener,
)
from tickettoken.events.customers.routes import router as customers_router
from tickettoken.events.events.cancel_routes import router as event_cancel_router
from tickettoken.events.events.routes import router as events_router
from tickettoken.events.events.routes import venue_events_router
from tickettoken.events.notifications.routes import router as notifications_router
from tickettoken.events.orders.routes import router as orders_router
from tickettoken.events.pricing.routes import router as pricing_router
from tickettoken.events.reports.routes import router as reports_router
from tickettoken.events.reservations.routes import router as reservations_router
from tickettoken.events.reservations.sweeper import start_hold_sweeper, stop_hold_sweeper
from tickettoken.events.ticket_types.routes import router as ticket_types_router
from tickettoken.events.venues.routes import router as venues_router
from tickettoken.kit.app_factory import create_service_app
from tickettoken.kit.settings import Settings

CATALOGUE_ROUTERS = [
    venues_router,
    venue_events_router,
    events_router,
    event_cancel_router,
    ticket_types_router,
    pricing_router,
]
# The rest of the sales half (reservations come first, see create_app).
SALES_ROUTERS: list[APIRouter] = [
    orders_router,
    customers_router,
    reports_router,
    notifications_router,
]


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        "event",
        title="TicketToken event service",
        # Reservations first: routes are matched in order, and a reservation in a flash sale
        # is the request that must not wait for the matching of every catalogue route.
        routers=[reservations_router, *CATALOGUE_ROUTERS, *SALES_ROUTERS],
        settings=settings,
        on_startup=[start_event_change_listener, start_hold_sweeper],
        on_shutdown=[stop_hold_sweeper, stop_event_change_listener],
    )
