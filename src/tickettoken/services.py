"""The table of runnable services: name, default port and application factory."""

from __future__ import annotations

from dataclasses import dataclass

from tickettoken.kit.settings import SERVICE_PORTS


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    factory: str  # "module:function" for uvicorn's --factory mode
    port: int
    uses_database: bool = True


SERVICES: dict[str, ServiceSpec] = {
    "event": ServiceSpec("event", "tickettoken.events.app:create_app", SERVICE_PORTS["event"]),
    "integration": ServiceSpec(
        "integration", "tickettoken.integrations.app:create_app", SERVICE_PORTS["integration"]
    ),
    "queue": ServiceSpec("queue", "tickettoken.queue.app:create_app", SERVICE_PORTS["queue"]),
    "gateway": ServiceSpec(
        "gateway",
        "tickettoken.gateway.app:create_app",
        SERVICE_PORTS["gateway"],
        uses_database=False,
    ),
}
