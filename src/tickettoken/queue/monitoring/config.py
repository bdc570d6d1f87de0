"""Monitoring and alert knobs of the queue service (environment variables ``QUEUE_*``).

Defaults are the rules of SPEC section 6; tests and operators lower intervals and cooldowns.
Kept out of the platform-wide ``Settings`` because only the queue service reads them.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MonitorConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUEUE_", extra="ignore")

    monitor_enabled: bool = True
    monitor_interval_seconds: float = Field(15.0, gt=0)  # gauges refresh and alert checks
    metrics_sample_seconds: float = Field(60.0, gt=0)  # queue_metrics rows: once per interval

    alert_money_waiting: int = 50
    alert_money_oldest_seconds: float = 600
    alert_money_failures_10m: int = 10
    alert_communication_waiting: int = 5_000
    alert_background_waiting: int = 50_000
    alert_failure_rate: float = 0.10
    alert_failure_rate_min_jobs: int = 20  # fewer finished jobs in the window: no rate alert
    alert_cooldown_critical_seconds: float = Field(300, ge=0)
    alert_cooldown_warning_seconds: float = Field(3600, ge=0)
