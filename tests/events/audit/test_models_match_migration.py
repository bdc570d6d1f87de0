"""Every event-service model maps exactly the columns migration 0003 creates (AUDIT: no code may
use a column the schema does not have)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from tickettoken.events import models  # noqa: F401  (registers every table)
from tickettoken.kit.orm import Base

EVENT_TABLES = (
    "venues",
    "events",
    "ticket_types",
    "pricing_rules",
    "customers",
    "reservations",
    "orders",
    "order_items",
    "tickets",
    "notifications",
    "audit_log",
)


async def test_every_model_column_exists_with_the_same_nullability(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            for table_name in EVENT_TABLES:
                reflected = await conn.run_sync(
                    lambda sync, name=table_name: sa.inspect(sync).get_columns(name)
                )
                in_database = {c["name"]: c for c in reflected}
                model_table = Base.metadata.tables[table_name]
                assert set(model_table.columns.keys()) == set(in_database), table_name
                for column in model_table.columns:
                    db_column = in_database[column.name]
                    assert column.nullable == db_column["nullable"], (table_name, column.name)
                    assert (column.server_default is not None) == (
                        db_column["default"] is not None
                    ), (table_name, column.name)
                    assert column.type.python_type == db_column["type"].python_type, (
                        table_name,
                        column.name,
                    )
    finally:
        await engine.dispose()
