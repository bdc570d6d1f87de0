"""A process that calls an HTTP endpoint as fast as the shared ``stripe`` limiter allows.

Run by ``test_ratelimit_processes.py``:
``python ratelimit_load_client.py REDIS PREFIX URL SECONDS``.
Prints the number of calls made.
"""

from __future__ import annotations

import asyncio
import sys
import time

import httpx

from tickettoken.kit.provider_limits import RateLimitTimeout, create_rate_limiter


async def main(redis_url: str, prefix: str, url: str, seconds: float) -> None:
    limiter = create_rate_limiter(redis_url, prefix=prefix, default_timeout=5)
    deadline = time.monotonic() + seconds
    calls = 0

    async def caller(client: httpx.AsyncClient) -> None:
        nonlocal calls
        while time.monotonic() < deadline:
            try:
                async with limiter.slot("stripe-charges", max_wait=deadline - time.monotonic()):
                    granted = f"{time.monotonic():.6f}"  # one clock for all processes here
                    response = await client.post(url, headers={"X-Granted-At": granted})
                    if response.status_code == 429:
                        await limiter.penalize("stripe", float(response.headers["retry-after"]))
                    calls += 1
            except RateLimitTimeout:
                return

    async with httpx.AsyncClient(timeout=10) as client:
        await asyncio.gather(*(caller(client) for _ in range(12)))
    print(calls, flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
