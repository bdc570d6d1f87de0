"""The ORM models of the integration service describe exactly the tables the migrations create:
same columns, types, nullability and server defaults (a model that drifted would write what the
table refuses, or read a column that is not there)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import create_async_engine

from tickettoken.integrations import models
from tickettoken.kit.orm import Base

TABLES = (
    "integration_configs",
    "oauth_tokens",
    "venue_api_keys",
    "sync_queue",
    "field_mapping_templates",
    "integration_webhooks",
    "sync_logs",
    "integration_health",
    "integration_costs",
    "oauth_states",
)


def _normalise_default(default: Any) -> str | None:
    if default is None:
        return None
    text = str(default).lower().replace("now()", "current_timestamp")
    text = text.replace("interval '7 days'", "'7 days'::interval")
    return text.replace("::text", "").replace("::character varying", "").replace("'", "")


async def test_every_model_mirrors_its_table(database_url: str) -> None:
    assert models.IntegrationConfig.__tablename__ in Base.metadata.tables
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            reflected = await conn.run_sync(
                lambda sync: {
                    table: {c["name"]: c for c in inspect(sync).get_columns(table)}
                    for table in TABLES
                }
            )
    finally:
        await engine.dispose()
    for table_name in TABLES:
        table = Base.metadata.tables[table_name]
        database = reflected[table_name]
        assert set(table.columns.keys()) == set(database), table_name
        for column in table.columns:
            found = database[column.name]
            where = f"{table_name}.{column.name}"
            assert column.nullable == found["nullable"], where
            ours = column.type.compile(dialect=postgresql.dialect())
            theirs = found["type"].compile(dialect=postgresql.dialect())
            assert ours.split("(")[0] == theirs.split("(")[0], (where, ours, theirs)
            length = getattr(column.type, "length", None)
            assert length == getattr(found["type"], "length", None), where
            model_default = column.server_default.arg if column.server_default else None
            assert _normalise_default(model_default) == _normalise_default(found["default"]), (
                where,
                model_default,
                found["default"],
            )
