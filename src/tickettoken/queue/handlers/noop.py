"""``noop``: does nothing and succeeds; the throughput benchmark measures the engine with it."""

from __future__ import annotations

from typing import Any

from tickettoken.kit.jobs import JobContext


async def noop(ctx: JobContext) -> dict[str, Any]:
    return {}
