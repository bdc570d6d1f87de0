"""A small asyncpg pool of the event service's own, for the reservation fast path (``batches``).

Why not the ORM engine's pool: its checkout pings every connection first, which the asyncpg
dialect does as three round trips (BEGIN, ``;``, ROLLBACK); on the flash-sale path that is more
than the sale itself (profiled with py-spy: about an eighth of the worker's CPU). This pool
skips the ping (a broken connection fails that one request, 500, and is replaced) and resets a
connection on release only when it is still inside a transaction.

Its connections commit with ``synchronous_commit = off``, and every hold switches it back on for
its own transaction (``SET LOCAL``). So the buyers' customer rows, created in the autocommitted
first round trip of a batch, no longer wait for a WAL flush of their own: the hold's synchronous
commit flushes the WAL up to its commit record, which lies after theirs, so they are durable
before any hold that refers to them is acknowledged. A crash in between loses only customer rows
that no sale used yet, and the next request creates them again. Measured with
``bench/flash_sale.py``: see bench/RESULTS.md.
"""

from __future__ import annotations

import asyncpg
from fastapi import FastAPI

from tickettoken.events.reservations.batches import HoldBatcher
from tickettoken.kit.db import Database

POOL_ATTRIBUTE = "sales_driver_pool"
BATCHER_ATTRIBUTE = "sales_hold_batcher"


async def _reset_if_in_transaction(connection: asyncpg.Connection) -> None:
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


def driver_dsn(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def open_driver_pool(app: FastAPI) -> None:
    database: Database = app.state.database
    settings = app.state.settings
    app.state.sales_driver_pool = await asyncpg.create_pool(
        driver_dsn(database.url),
        min_size=0,  # no I/O at start-up: the service starts (and is not ready) without a database
        max_size=max(2, settings.db_pool_max // 2),
        reset=_reset_if_in_transaction,
        command_timeout=30,
        server_settings={"application_name": "tickettoken-sales", "synchronous_commit": "off"},
    )
    app.state.sales_hold_batcher = HoldBatcher(app.state.sales_driver_pool, database)


async def close_driver_pool(app: FastAPI) -> None:
    pool: asyncpg.Pool | None = getattr(app.state, POOL_ATTRIBUTE, None)
    if pool is not None:
        await pool.close()


def driver_pool(app: FastAPI) -> asyncpg.Pool | None:
    pool: asyncpg.Pool | None = getattr(app.state, POOL_ATTRIBUTE, None)
    return pool


def hold_batcher(app: FastAPI) -> HoldBatcher | None:
    batcher: HoldBatcher | None = getattr(app.state, BATCHER_ATTRIBUTE, None)
    return batcher
