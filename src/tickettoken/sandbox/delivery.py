"""Signed webhook delivery from an emulator to the subscription URL a test configured.

Deliveries run as background tasks so the API call that caused an event answers first, as a real
provider does. A delivery that fails (a network error or a non-2xx answer) is retried with
doubling delays, as Square, Intuit and Mailchimp retry (over hours there; seconds here).
Each delivery is recorded (URL, headers, body, last status or error, attempts) so a test can
replay exactly what was sent or check a receiver's answer.

One client and at most ``DELIVERY_CONCURRENCY`` posts at a time per emulator, as a provider's
delivery workers would: a bulk call that makes a thousand events (Square's bulk customer create,
ten calls for 1,000 customers) must not open a thousand clients at once (each builds its TLS
context: seconds of the emulator's event loop, during which it answers nothing).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx

DELIVERY_ATTEMPTS = 4
DELIVERY_CONCURRENCY = 16
FIRST_RETRY_DELAY = 0.5  # then 1 s, 2 s


@dataclass
class Delivery:
    url: str
    headers: dict[str, str]
    body: str
    status: int | None = None
    error: str | None = None
    attempts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "headers": self.headers,
            "body": self.body,
            "status": self.status,
            "error": self.error,
            "attempts": self.attempts,
        }


@dataclass
class Deliverer:
    """Posts bodies to one URL; keeps every attempt and the tasks still running."""

    url: str | None = None
    sent: list[Delivery] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    attempts: int = DELIVERY_ATTEMPTS
    first_delay: float = FIRST_RETRY_DELAY
    _client: httpx.AsyncClient | None = field(default=None, repr=False)
    _slots: asyncio.Semaphore | None = field(default=None, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)

    def send(
        self,
        body: str,
        headers: dict[str, str],
        *,
        url: str | None = None,
        content_type: str = "application/json",
    ) -> None:
        target = url or self.url
        if not target:
            return
        delivery = Delivery(target, {"content-type": content_type, **headers}, body)
        self.sent.append(delivery)
        task = asyncio.get_running_loop().create_task(self._post(delivery))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _post(self, delivery: Delivery) -> None:
        loop = asyncio.get_running_loop()
        if self._client is None or self._slots is None or self._loop is not loop:
            # made in the loop that delivers (an emulator built in one test's loop and used in
            # another's must not reuse the first loop's connections)
            self._client = httpx.AsyncClient(timeout=10.0)
            self._slots = asyncio.Semaphore(DELIVERY_CONCURRENCY)
            self._loop = loop
        client, slots = self._client, self._slots
        delay = self.first_delay
        for attempt in range(self.attempts):
            delivery.attempts = attempt + 1
            try:
                async with slots:
                    answer = await client.post(
                        delivery.url, content=delivery.body.encode(), headers=delivery.headers
                    )
                delivery.status, delivery.error = answer.status_code, None
                if answer.is_success:
                    return
            except httpx.HTTPError as error:
                delivery.error = type(error).__name__
            if attempt + 1 < self.attempts:
                await asyncio.sleep(delay)
                delay *= 2

    async def drain(self) -> None:
        """Wait for deliveries in flight (tests read ``sent`` afterwards)."""
        if self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
