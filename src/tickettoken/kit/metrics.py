"""Prometheus metrics shared by every service's HTTP layer."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests handled", ["service", "method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "HTTP request duration",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
HTTP_IN_FLIGHT = Gauge("http_requests_in_flight", "HTTP requests in flight", ["service"])

_IN_FLIGHT: dict[str, list[int]] = {}


def in_flight_counter(service: str) -> list[int]:
    """A service's requests in flight in this process: one plain integer (in a list) that the
    kit's middleware and the gateway's proxy edge add to and take from, read by the
    ``http_requests_in_flight`` child at every scrape. A live gauge takes a lock on every update
    (two a request), which the gateway's hot path measured."""
    counter = _IN_FLIGHT.get(service)
    if counter is None:
        counter = _IN_FLIGHT[service] = [0]
        HTTP_IN_FLIGHT.labels(service).set_function(lambda: counter[0])
    return counter


async def metrics_endpoint(_: Request) -> Response:
    from tickettoken.kit.metric_batch import flush_all

    flush_all()  # counts kept in batches (the gateway's proxy path) are exposed exactly
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
