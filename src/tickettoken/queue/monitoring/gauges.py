"""Prometheus gauges per queue, refreshed from the engine's counts.

They live in the process's default registry, so both ``/metrics`` (the service's scrape endpoint)
and ``/api/v1/queue/metrics/prometheus`` expose them. Gauges cannot query the database when
scraped (collectors are synchronous), so the monitor loop refreshes them every interval and the
prometheus route refreshes them before answering.
"""

from __future__ import annotations

from prometheus_client import Gauge

from tickettoken.kit.jobs import QueueCounts

_LABELS = ["queue"]
DEPTH = Gauge("tickettoken_queue_depth", "Jobs waiting to run (due now)", _LABELS)
DELAYED = Gauge("tickettoken_queue_delayed", "Jobs waiting for their run time", _LABELS)
ACTIVE = Gauge("tickettoken_queue_active", "Jobs being run by a worker", _LABELS)
FAILED = Gauge("tickettoken_queue_failed", "Jobs failed or dead (kept rows)", _LABELS)
OLDEST = Gauge(
    "tickettoken_queue_oldest_waiting_seconds", "Age of the oldest waiting job (0: none)", _LABELS
)
THROUGHPUT = Gauge(
    "tickettoken_queue_throughput_per_minute", "Jobs completed in the last minute", _LABELS
)
FAILURE_RATE = Gauge(
    "tickettoken_queue_failure_rate",
    "Failed / finished jobs in the last minute (0..1)",
    _LABELS,
)
PAUSED = Gauge("tickettoken_queue_paused", "1 when the queue is paused", _LABELS)


def failure_rate(counts: QueueCounts) -> float:
    finished = counts.completed_last_minute + counts.failed_last_minute
    return counts.failed_last_minute / finished if finished else 0.0


def update(counts: dict[str, QueueCounts]) -> None:
    for name, c in counts.items():
        DEPTH.labels(name).set(c.waiting)
        DELAYED.labels(name).set(c.delayed)
        ACTIVE.labels(name).set(c.active)
        FAILED.labels(name).set(c.failed + c.dead)
        OLDEST.labels(name).set(c.oldest_waiting_seconds or 0)
        THROUGHPUT.labels(name).set(c.completed_last_minute)
        FAILURE_RATE.labels(name).set(failure_rate(c))
        PAUSED.labels(name).set(1 if c.paused else 0)
