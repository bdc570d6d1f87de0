"""Bodies of the alert routes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AlertTest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    severity: Literal["critical", "warning", "info"] = "info"
    message: str = Field("Test alert from the queue service", min_length=1, max_length=500)
