"""The process's provider clients: one per provider, built when first needed, closed at stop.

Every part of the service that calls a provider takes its client from here, so the clients'
connection pools and the shared rate limiter are per process, not per request. Tests and
commands that run outside an application get a private set (``ProviderClients(settings)``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI

from tickettoken.integrations.providers import PROVIDERS, Provider, build_provider
from tickettoken.kit.settings import Settings


class ProviderClients:
    def __init__(self, settings: Settings, **build_options: Any) -> None:
        self.settings = settings
        self._options = build_options
        self._clients: dict[str, Provider] = {}
        self._lock = asyncio.Lock()

    async def get(self, name: str) -> Provider:
        """The client of provider ``name``; ``KeyError`` for a provider we do not know."""
        if name not in PROVIDERS:
            raise KeyError(name)
        client = self._clients.get(name)
        if client is not None:
            return client
        async with self._lock:
            client = self._clients.get(name)
            if client is None:
                client = build_provider(name, self.settings, **self._options)
                prepare = getattr(client, "prepare", None)
                if prepare is not None:
                    await prepare()
                self._clients[name] = client
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


def app_clients(app: FastAPI) -> ProviderClients:
    clients = getattr(app.state, "provider_clients", None)
    if not isinstance(clients, ProviderClients):
        clients = app.state.provider_clients = ProviderClients(app.state.settings)
    return clients


async def open_provider_clients(app: FastAPI) -> None:
    app_clients(app)


async def close_provider_clients(app: FastAPI) -> None:
    clients = getattr(app.state, "provider_clients", None)
    if isinstance(clients, ProviderClients):
        await clients.aclose()
