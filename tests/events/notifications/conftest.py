"""Fixtures of the notification tests (shared with the other sales tests)."""

from tests.events.reservations.sales_fixtures import (  # noqa: F401
    committed_session,
    customer_headers,
    sales_client,
)
