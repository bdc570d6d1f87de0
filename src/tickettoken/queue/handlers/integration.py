"""``sync`` and ``webhook`` jobs: dispatched to implementations other services register.

The integration service (a later issue) registers one function per provider with
``register_sync``/``register_webhook`` from a worker plugin module. A job for a provider nobody
registered fails permanently and says so; it never reports success without doing the work
(AUDIT: sync processors that only logged).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tickettoken.kit.jobs import JobContext, JobRegistry, PermanentJobError

Implementation = Callable[[JobContext], Awaitable[dict[str, Any]]]

SYNC_IMPLEMENTATIONS: dict[str, Implementation] = {}
WEBHOOK_IMPLEMENTATIONS: dict[str, Implementation] = {}


def register_sync(provider: str, implementation: Implementation) -> None:
    SYNC_IMPLEMENTATIONS[provider] = implementation


def register_webhook(provider: str, implementation: Implementation) -> None:
    WEBHOOK_IMPLEMENTATIONS[provider] = implementation


def _dispatcher(kind: str, table: dict[str, Implementation]) -> Implementation:
    async def dispatch(ctx: JobContext) -> dict[str, Any]:
        provider = ctx.payload.get("provider")
        if not provider:
            raise PermanentJobError(f"{kind} job needs a provider")
        implementation = table.get(str(provider))
        if implementation is None:
            raise PermanentJobError(
                f"no {kind} implementation registered for provider {provider!r}"
            )
        return await implementation(ctx)

    return dispatch


def register(registry: JobRegistry) -> None:
    registry.register("sync", _dispatcher("sync", SYNC_IMPLEMENTATIONS), timeout=600)
    registry.register("webhook", _dispatcher("webhook", WEBHOOK_IMPLEMENTATIONS), timeout=120)
