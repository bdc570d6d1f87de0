"""Polling helpers shared by the engine's tests."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from tickettoken.kit.db import Database


async def wait_for_status(
    db: Database, table: str, keys: list[str], status: str, within: float = 20.0
) -> None:
    """Poll until every job with these idempotency keys has the status."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        async with db.transaction() as session:
            count = (
                await session.execute(
                    text(
                        f"SELECT count(*) FROM {table} WHERE idempotency_key = ANY(:k)"
                        " AND status = :s"
                    ),
                    {"k": keys, "s": status},
                )
            ).scalar_one()
        if count == len(keys):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{count}/{len(keys)} jobs reached {status}")
        await asyncio.sleep(0.05)
