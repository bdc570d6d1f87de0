"""Where each service's instances are: the static lists of the environment.

``EVENT_SERVICE_URL=http://a:3003,http://b:3003`` names two instances of the event service.
"""

from __future__ import annotations

from tickettoken.kit.settings import SERVICE_PORTS, Settings


def static_instances(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Every service's configured base URLs (comma-separated lists), services without any left
    out."""
    table: dict[str, tuple[str, ...]] = {}
    for name in SERVICE_PORTS:
        if name == "gateway":
            continue
        configured = settings.service_url(name)
        if not configured:
            continue
        urls = tuple(url.strip().rstrip("/") for url in configured.split(",") if url.strip())
        if urls:
            table[name] = urls
    return table
