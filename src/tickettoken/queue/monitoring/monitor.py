"""The queue service's background monitor: gauges, ``queue_metrics`` samples, alert checks.

Every instance runs it (start-up hook). Each round it reads the engine's counts, refreshes the
Prometheus gauges of its own process, and evaluates the alert rules; alerts fire once per cooldown
across instances (``alerts.service.fire``). Sampling into ``queue_metrics`` and
``rate_limit_metrics`` happens once per ``metrics_sample_seconds`` across all instances: the
instance that wins ``claim_turn`` writes the rows, the others skip.

The rounds run on ``kit.periodic.Periodic``: a failed round (database restarting) is logged and
retried next round; the loop never dies silently and never takes the service down. On shutdown the
round in progress finishes first, so an alert that was stored is also delivered.
"""

from __future__ import annotations

import structlog
from fastapi import FastAPI
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from tickettoken.kit.db import Database
from tickettoken.kit.periodic import Periodic
from tickettoken.kit.provider_limits import LimiterStoreError, RateLimiter
from tickettoken.kit.settings import Settings
from tickettoken.queue.alerts import service as alerts
from tickettoken.queue.alerts.rules import cooldown_seconds, evaluate
from tickettoken.queue.engine import queue_counts
from tickettoken.queue.monitoring import gauges
from tickettoken.queue.monitoring.config import MonitorConfig
from tickettoken.queue.monitoring.repository import insert_samples
from tickettoken.queue.monitoring.turns import claim_turn

log = structlog.get_logger(__name__)

STOP_GRACE_SECONDS = 10.0


async def sample_rate_limits(database: Database, limiter: RateLimiter) -> None:
    """Write one ``rate_limit_metrics`` row per provider and reset the shared counters."""
    states = await limiter.states(drain_counters=True)
    async with database.transaction() as session:
        for s in states:
            await session.execute(
                text(
                    "INSERT INTO rate_limit_metrics (provider, tokens_available, concurrent,"
                    " waited_ms, rejected) VALUES (:p, :t, :c, :w, :r)"
                ),
                {
                    "p": s.provider,
                    "t": s.tokens_available,
                    "c": s.in_flight,
                    "w": s.waited_ms,
                    "r": s.timeouts,
                },
            )


async def run_round(
    database: Database, settings: Settings, config: MonitorConfig, limiter: RateLimiter | None
) -> list[str]:
    """One monitoring round; returns the ids of alerts fired by this instance."""
    async with database.transaction() as session:
        counts = await queue_counts(session)
        gauges.update(counts)
        if await claim_turn(session, "sampler:queue_metrics", config.metrics_sample_seconds):
            await insert_samples(session, counts)
            sample_limits = limiter is not None
        else:
            sample_limits = False
    if sample_limits and limiter is not None:
        await sample_rate_limits(database, limiter)
    fired: list[str] = []
    for alert in evaluate(counts, config):
        alert_id = await alerts.fire(database, settings, alert, cooldown_seconds(alert, config))
        if alert_id is not None:
            fired.append(alert_id)
    return fired


def _world_failure(exc: Exception) -> bool:
    """A database restarting, Redis or the limiter's store unreachable: retried next round."""
    return isinstance(exc, SQLAlchemyError | RedisError | OSError | LimiterStoreError)


async def start(app: FastAPI) -> None:
    config: MonitorConfig = app.state.monitor_config
    if not config.monitor_enabled:
        return

    async def monitor_round() -> None:
        await run_round(
            app.state.database,
            app.state.settings,
            config,
            getattr(app.state, "rate_limiter", None),
        )

    app.state.monitor = Periodic(
        "queue-monitor",
        monitor_round,
        config.monitor_interval_seconds,
        stop_grace=STOP_GRACE_SECONDS,
        expected=_world_failure,
    )
    app.state.monitor.start()


async def stop(app: FastAPI) -> None:
    """Let the round in progress finish (an alert it stored is also sent), then stop; a round
    stuck longer than ``STOP_GRACE_SECONDS`` is cancelled."""
    periodic: Periodic | None = getattr(app.state, "monitor", None)
    if periodic is not None:
        await periodic.stop()
