"""The gateway's own Prometheus series (the kit's middleware already counts requests per route)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

UPSTREAM_REQUESTS = Counter(
    "gateway_upstream_requests_total",
    "Calls from the gateway to a service instance, by outcome",
    ["service", "outcome"],
)
UPSTREAM_DURATION = Histogram(
    "gateway_upstream_duration_seconds",
    "Time to the response headers of one call to a service",
    ["service"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120),
)
RETRIES = Counter("gateway_retries_total", "Retried calls to a service", ["service", "reason"])
RETRIES_REFUSED = Counter(
    "gateway_retries_refused_total", "Retries the retry budget refused", ["service"]
)
BREAKER_REJECTIONS = Counter(
    "gateway_breaker_rejections_total", "Requests answered 503 by an open breaker", ["service"]
)
BREAKER_STATE = Gauge(
    "gateway_breaker_state", "Circuit breaker state (0 closed, 1 open, 2 half-open)", ["service"]
)
CACHE_LOOKUPS = Counter(
    "gateway_cache_lookups_total", "Response cache lookups (hit, miss, bypass, error)", ["outcome"]
)
