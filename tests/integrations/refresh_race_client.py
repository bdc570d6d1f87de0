"""One process of the refresh race: at the agreed moment, ``USES`` concurrent uses of one
connection's credentials, each followed by a live call with them; prints one JSON line.

Run as ``python -m tests.integrations.refresh_race_client VENUE START_AT USES [die]`` with the
platform's settings in the environment (DATABASE_URL, ENCRYPTION_KEY, QUICKBOOKS_*). With
``die``, the process is killed (``os._exit``) the moment QuickBooks has answered a refresh,
before anything is written: a refresh whose answer is lost.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import time
import uuid

from tickettoken.integrations.connections.clients import ProviderClients
from tickettoken.integrations.connections.credentials import access_credentials
from tickettoken.kit.db import Database
from tickettoken.kit.settings import Settings


async def main(venue: uuid.UUID, start_at: float, uses: int, die: bool) -> None:
    settings = Settings()
    database = Database(settings.sqlalchemy_url() or "", pool_min=2, pool_max=uses + 2)
    clients = ProviderClients(settings)
    provider = await clients.get("quickbooks")
    await database.ping()  # connections open before the start
    if die:
        answered = provider.refresh

        async def refresh_then_die(*, refresh_token: str) -> object:
            await answered(refresh_token=refresh_token)
            os._exit(9)

        provider.refresh = refresh_then_die  # type: ignore[method-assign]

    async def use() -> dict[str, object]:
        credentials = await access_credentials(database, venue, "quickbooks", clients=clients)
        check = await provider.check(credentials)
        token = credentials.access_token or ""
        return {"ok": check.ok, "token": hashlib.sha256(token.encode()).hexdigest()[:16]}

    await asyncio.sleep(max(0.0, start_at - time.time()))
    try:
        results = await asyncio.gather(*(use() for _ in range(uses)), return_exceptions=True)
    finally:
        await clients.aclose()
        await database.dispose()
    print(
        json.dumps([r if isinstance(r, dict) else {"ok": False, "error": repr(r)} for r in results])
    )


if __name__ == "__main__":
    die = sys.argv[4:] == ["die"]
    asyncio.run(main(uuid.UUID(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), die))
