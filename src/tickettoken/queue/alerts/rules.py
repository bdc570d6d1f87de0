"""The alert rules of SPEC section 6, as pure functions of the engine's queue counts.

Failures are counted over a window (the last 10 minutes for the money rule, the last minute for
failure rates), never as a cumulative counter: the original's ever-growing counter re-alerted
forever (AUDIT).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tickettoken.kit.jobs import QueueCounts
from tickettoken.queue.monitoring.config import MonitorConfig
from tickettoken.queue.monitoring.gauges import failure_rate

Severity = Literal["critical", "warning", "info"]


@dataclass(frozen=True)
class Alert:
    key: str  # one cooldown per key, e.g. "money.waiting"
    alert_type: str
    severity: Severity
    queue: str | None
    message: str
    value: float
    threshold: float


def _above(
    key: str, severity: Severity, queue: str, what: str, value: float, threshold: float
) -> Alert | None:
    if value <= threshold:
        return None
    return Alert(
        key=key,
        alert_type=key.split(".", 1)[1],
        severity=severity,
        queue=queue,
        message=f"{queue} queue: {what} is {value:g} (threshold {threshold:g})",
        value=value,
        threshold=threshold,
    )


def evaluate(counts: dict[str, QueueCounts], config: MonitorConfig) -> list[Alert]:
    """Every rule that is breached right now."""
    found: list[Alert | None] = []
    money = counts.get("money")
    if money is not None:
        found += [
            _above(
                "money.waiting",
                "critical",
                "money",
                "waiting jobs",
                money.waiting,
                config.alert_money_waiting,
            ),
            _above(
                "money.oldest_waiting",
                "critical",
                "money",
                "oldest waiting job age (s)",
                round(money.oldest_waiting_seconds or 0, 1),
                config.alert_money_oldest_seconds,
            ),
            _above(
                "money.failures_10m",
                "critical",
                "money",
                "failures in the last 10 minutes",
                money.failed_last_10_minutes,
                config.alert_money_failures_10m,
            ),
        ]
    communication = counts.get("communication")
    if communication is not None:
        found.append(
            _above(
                "communication.waiting",
                "warning",
                "communication",
                "waiting jobs",
                communication.waiting,
                config.alert_communication_waiting,
            )
        )
    background = counts.get("background")
    if background is not None:
        found.append(
            _above(
                "background.waiting",
                "warning",
                "background",
                "waiting jobs",
                background.waiting,
                config.alert_background_waiting,
            )
        )
    for name, c in counts.items():
        finished = c.completed_last_minute + c.failed_last_minute
        if finished >= config.alert_failure_rate_min_jobs:
            found.append(
                _above(
                    f"{name}.failure_rate",
                    "warning",
                    name,
                    "failure rate (last minute)",
                    round(failure_rate(c), 4),
                    config.alert_failure_rate,
                )
            )
    return [alert for alert in found if alert is not None]


def cooldown_seconds(alert: Alert, config: MonitorConfig) -> float:
    if alert.severity == "critical":
        return config.alert_cooldown_critical_seconds
    return config.alert_cooldown_warning_seconds
