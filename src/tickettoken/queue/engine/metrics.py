"""Prometheus metrics of the job engine (per queue and job type)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

JOBS_PROCESSED = Counter(
    "tickettoken_jobs_processed_total",
    "Jobs finished by a worker, by outcome (completed, retried, failed, dead, released)",
    ["queue", "type", "outcome"],
)
JOB_DURATION = Histogram(
    "tickettoken_job_duration_seconds",
    "Time a handler took to run one job",
    ["queue", "type"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
)
JOBS_CLAIMED = Counter("tickettoken_jobs_claimed_total", "Jobs claimed by workers", ["queue"])
JOBS_IN_FLIGHT = Gauge("tickettoken_jobs_in_flight", "Jobs held by this worker", ["queue"])
LEASES_RECLAIMED = Counter(
    "tickettoken_job_leases_reclaimed_total",
    "Jobs taken back from workers whose lease expired",
    ["queue"],
)
