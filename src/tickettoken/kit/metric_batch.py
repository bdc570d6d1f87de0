"""Counters and histograms counted in plain Python and handed to Prometheus in batches.

Every ``inc``/``observe`` of prometheus_client takes a lock, checks the metric's state and, for a
histogram, walks its buckets in Python: on the gateway's proxy path, with seven updates per
request, that measured about 15 % of the gateway's own Python time per request. Here an
update is an integer addition (a histogram's bucket is found with ``bisect``); the totals reach
the Prometheus children at every scrape (``metrics_endpoint`` flushes first) and at least every
``FLUSH_SECONDS`` otherwise, so what is exposed is exact when it is read.
"""

from __future__ import annotations

import time
import weakref
from bisect import bisect_left
from typing import Any

FLUSH_SECONDS = 1.0

_batches: weakref.WeakSet[BatchedCounter | BatchedHistogram] = weakref.WeakSet()
_last_flush = time.monotonic()


def flush_all() -> None:
    """Hand every pending count to Prometheus (before a scrape)."""
    global _last_flush
    _last_flush = time.monotonic()
    for batch in list(_batches):
        batch.flush()


def _maybe_flush(now: float) -> None:
    if now - _last_flush >= FLUSH_SECONDS:
        flush_all()


class BatchedCounter:
    """A counter child (``Counter(...).labels(...)``) counted in batches."""

    __slots__ = ("__weakref__", "child", "pending")

    def __init__(self, child: Any) -> None:
        self.child = child
        self.pending = 0
        _batches.add(self)

    def inc(self) -> None:
        self.pending += 1

    def flush(self) -> None:
        pending, self.pending = self.pending, 0
        if pending:
            self.child.inc(pending)


class BatchedHistogram:
    """A histogram child observed in batches: per-bucket counts and the sum kept here, added to
    the child's own bucket and sum values at a flush."""

    __slots__ = ("__weakref__", "bounds", "child", "counts", "total")

    def __init__(self, child: Any) -> None:
        self.child = child
        # prometheus_client's child: ``_upper_bounds`` (ending with +Inf), ``_buckets`` (one
        # value per bound, not cumulative) and ``_sum``; an observation goes to the first bound
        # >= it, which is what bisect_left finds.
        self.bounds: list[float] = list(child._upper_bounds)
        self.counts = [0] * len(self.bounds)
        self.total = 0.0
        _batches.add(self)

    def observe(self, amount: float) -> None:
        self.counts[bisect_left(self.bounds, amount)] += 1
        self.total += amount
        _maybe_flush(time.monotonic())

    def flush(self) -> None:
        counts, total = self.counts, self.total
        if not any(counts):
            return
        self.counts = [0] * len(self.bounds)
        self.total = 0.0
        buckets = self.child._buckets
        for index, count in enumerate(counts):
            if count:
                buckets[index].inc(count)
        self.child._sum.inc(total)
