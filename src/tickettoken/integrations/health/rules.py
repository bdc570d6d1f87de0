"""The status rule of SPEC 5.3, in one place.

``unhealthy``: the connection failed (this check), or the 24 h success rate is below 50 %, or the
average response time above 10 s; ``degraded``: success below 90 % or response above 5 s;
otherwise ``healthy``. ``unknown`` (also allowed by the table) only before the first check.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final, Literal

HealthStatus = Literal["healthy", "degraded", "unhealthy", "unknown"]

DEGRADED_BELOW_PERCENT: Final = Decimal(90)
UNHEALTHY_BELOW_PERCENT: Final = Decimal(50)
DEGRADED_ABOVE_MS: Final = 5_000
UNHEALTHY_ABOVE_MS: Final = 10_000


def health_status(
    *, connection_ok: bool, success_rate: Decimal | None, response_ms: float | None
) -> HealthStatus:
    if not connection_ok:
        return "unhealthy"
    rate = success_rate if success_rate is not None else Decimal(100)
    slow = response_ms or 0
    if rate < UNHEALTHY_BELOW_PERCENT or slow > UNHEALTHY_ABOVE_MS:
        return "unhealthy"
    if rate < DEGRADED_BELOW_PERCENT or slow > DEGRADED_ABOVE_MS:
        return "degraded"
    return "healthy"
