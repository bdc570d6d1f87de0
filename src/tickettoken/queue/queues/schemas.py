"""Names of the queues and job states, as every queue route accepts them."""

from __future__ import annotations

from typing import Literal

QueueName = Literal["money", "communication", "background"]
JobStatus = Literal["queued", "active", "completed", "failed", "cancelled", "dead"]
