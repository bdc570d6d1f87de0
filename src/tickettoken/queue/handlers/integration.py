"""``sync`` and ``webhook`` jobs: dispatched by provider to the implementations a service declares.

The integration service's entry in the service table (``tickettoken.services``) builds both
handlers with ``provider_dispatcher`` over its map of provider -> implementation. A job for a
provider the map does not hold fails permanently and says so; it never reports success without
doing the work (AUDIT: sync processors that only logged).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from tickettoken.kit.jobs import JobContext, PermanentJobError

Implementation = Callable[[JobContext], Awaitable[dict[str, Any]]]


def provider_dispatcher(kind: str, table: Mapping[str, Implementation]) -> Implementation:
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
