"""Provider rate limits: live state of every shared limiter, and an admin reset of one.

Reset refills one provider's bucket and clears its penalty and counters; calls in flight keep
their leases (they expire by themselves). There is no route that resets everything.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from redis.exceptions import RedisError

from tickettoken.kit.auth import Principal
from tickettoken.kit.contracts import AUTHENTICATED, COMMON_ERRORS, Ok, errors
from tickettoken.kit.errors import NotFound, ServiceUnavailable
from tickettoken.kit.pagination import ok
from tickettoken.kit.provider_limits import LimiterStoreError, RateLimiter, UnknownProvider
from tickettoken.queue.access import ADMIN_ONLY, OBSERVERS
from tickettoken.queue.ratelimit.schemas import LimiterStateRead, RateLimits

router = APIRouter(
    prefix="/api/v1/queue/rate-limits",
    tags=["rate limits"],
    responses={**COMMON_ERRORS, **AUTHENTICATED},
)

ProviderName = Path(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")


def _limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


@router.get(
    "",
    summary="Every provider limiter: limits, tokens, calls in flight, penalty",
    response_model=Ok[RateLimits],
)
async def list_limits(request: Request, _: Principal = Depends(OBSERVERS)) -> dict[str, Any]:
    limiter = _limiter(request)
    try:
        states = [s.as_dict() for s in await limiter.states()]
    except (RedisError, LimiterStoreError) as exc:
        raise ServiceUnavailable("Rate limiter store is unreachable") from exc
    groups = {member: group for member, group in sorted(limiter.groups.items())}
    return ok({"providers": states, "groups": groups})


@router.post(
    "/{provider}/reset",
    summary="Refill one provider's bucket, clear its penalty (admin)",
    response_model=Ok[LimiterStateRead],
    responses=errors(**{"404": "No limiter of that name"}),
)
async def reset(
    request: Request,
    provider: str = ProviderName,
    _: Principal = Depends(ADMIN_ONLY),
) -> dict[str, Any]:
    limiter = _limiter(request)
    try:
        await limiter.reset(provider)
        state = await limiter.state(provider)
    except UnknownProvider:
        raise NotFound(f"No rate limiter named {provider!r}") from None
    except (RedisError, LimiterStoreError) as exc:
        raise ServiceUnavailable("Rate limiter store is unreachable") from exc
    return ok(state.as_dict())
