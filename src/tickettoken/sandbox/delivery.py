"""Signed webhook delivery from an emulator to the subscription URL a test configured.

Deliveries run as background tasks so the API call that caused an event answers first, as a real
provider does. Each attempt is recorded (URL, headers, body, status or error) so a test can
replay exactly what was sent or check a receiver's answer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Delivery:
    url: str
    headers: dict[str, str]
    body: str
    status: int | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "headers": self.headers,
            "body": self.body,
            "status": self.status,
            "error": self.error,
        }


@dataclass
class Deliverer:
    """Posts bodies to one URL; keeps every attempt and the tasks still running."""

    url: str | None = None
    sent: list[Delivery] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def send(self, body: str, headers: dict[str, str]) -> None:
        if not self.url:
            return
        delivery = Delivery(self.url, {"content-type": "application/json", **headers}, body)
        self.sent.append(delivery)
        task = asyncio.get_running_loop().create_task(self._post(delivery))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _post(self, delivery: Delivery) -> None:
        try:
            async with httpx.AsyncClient(timeout=10.0) as client:
                answer = await client.post(
                    delivery.url, content=delivery.body.encode(), headers=delivery.headers
                )
            delivery.status = answer.status_code
        except httpx.HTTPError as error:
            delivery.error = type(error).__name__

    async def drain(self) -> None:
        """Wait for deliveries in flight (tests read ``sent`` afterwards)."""
        if self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
