"""Settings of the sales side read from the environment (the kit's ``Settings`` stays generic).

- ``RESERVATION_HOLD`` (default ``15m``): how long a hold keeps its tickets and price.
- ``RESERVATION_SWEEP_INTERVAL`` (default ``5s``): how often each instance releases expired holds.
- ``RESERVATION_PAYMENT_GRACE`` (default ``15m``): how long after its hold expired a confirmed but
  unpaid order keeps its tickets before it is cancelled and its quantity returns to sale.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict

from tickettoken.kit.settings import parse_duration

MAX_TICKETS_PER_ORDER = 10
MAX_TICKETS_PER_CUSTOMER_PER_EVENT = 50
SALES_CLOSE_BEFORE_START_SECONDS = 30 * 60


class SalesSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    reservation_hold: str = "15m"
    reservation_sweep_interval: str = "5s"
    reservation_payment_grace: str = "15m"

    @property
    def hold_seconds(self) -> int:
        return parse_duration(self.reservation_hold)

    @property
    def sweep_interval_seconds(self) -> int:
        return parse_duration(self.reservation_sweep_interval)

    @property
    def payment_grace_seconds(self) -> int:
        return parse_duration(self.reservation_payment_grace)


@lru_cache
def get_sales_settings() -> SalesSettings:
    return SalesSettings()
