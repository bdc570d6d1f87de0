"""Route deadlines swept without a timer per request, and metrics counted in batches: both must
behave as what they replace (``asyncio.timeout_at``; prometheus_client's own updates)."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from tickettoken.gateway.resilience.deadlines import DeadlineWatch
from tickettoken.kit.metric_batch import BatchedCounter, BatchedHistogram, flush_all


async def test_a_deadline_ends_the_block_with_timeout_error_about_on_time() -> None:
    watch = DeadlineWatch(tick=0.02)
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    with pytest.raises(TimeoutError):
        async with watch.until(loop, loop.time() + 0.2):
            await asyncio.sleep(5)
    assert 0.19 < time.perf_counter() - started < 0.35
    assert not watch._watched


async def test_a_block_within_its_deadline_is_untouched_and_forgotten() -> None:
    watch = DeadlineWatch(tick=0.01)
    loop = asyncio.get_running_loop()
    async with watch.until(loop, loop.time() + 0.5):
        await asyncio.sleep(0.05)
    assert not watch._watched
    await asyncio.sleep(0.05)  # the sweep stops once nothing is watched
    assert watch._sweeping is None


async def test_a_deadline_already_past_fires_at_once() -> None:
    watch = DeadlineWatch()
    loop = asyncio.get_running_loop()
    with pytest.raises(TimeoutError):
        async with watch.until(loop, loop.time() - 1):
            await asyncio.sleep(1)


def test_batched_metrics_expose_what_direct_updates_would() -> None:
    registry = CollectorRegistry()
    direct_registry = CollectorRegistry()
    buckets = (0.01, 0.1, 1.0)
    histogram = Histogram("h", "h", ["a"], buckets=buckets, registry=registry).labels("x")
    counter = Counter("c", "c", ["a"], registry=registry).labels("x")
    direct_histogram = Histogram("h", "h", ["a"], buckets=buckets, registry=direct_registry).labels(
        "x"
    )
    direct_counter = Counter("c", "c", ["a"], registry=direct_registry).labels("x")
    batched_histogram, batched_counter = BatchedHistogram(histogram), BatchedCounter(counter)
    for value in (0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 7.0, 0.01):
        batched_histogram.observe(value)
        direct_histogram.observe(value)
        batched_counter.inc()
        direct_counter.inc()
    flush_all()
    assert exposed(registry) == exposed(direct_registry)


def exposed(registry: CollectorRegistry) -> list[str]:
    """The exposition without the ``_created`` timestamps (when each metric was made)."""
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]
