"""What the rate-limit routes answer."""

from __future__ import annotations

from pydantic import BaseModel, Field


class LimiterStateRead(BaseModel):
    """One shared provider limiter now (``LimiterState.as_dict``)."""

    provider: str
    rate_per_second: float = Field(gt=0)
    burst: int = Field(ge=0)
    effective_burst: int = Field(ge=0)
    max_concurrent: int = Field(ge=0)
    tokens_available: float
    in_flight: int = Field(ge=0)
    penalized_for_seconds: float = Field(ge=0)
    acquired: int = Field(ge=0)
    waited_ms: int = Field(ge=0)
    timeouts: int = Field(ge=0)


class RateLimits(BaseModel):
    providers: list[LimiterStateRead]
    groups: dict[str, str] = Field(description="member provider -> the limiter it shares")
