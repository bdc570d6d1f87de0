"""``tickettoken worker --plugin tt_plugin``: the engine's no-op job, counted for the benchmark."""

from __future__ import annotations

from typing import Any

from counting import count_one

from tickettoken.kit.jobs import JobContext, default_registry


async def counted_noop(ctx: JobContext) -> dict[str, Any]:
    count_one()
    return {}


default_registry.register("noop", counted_noop, timeout=10)
